import { readSampleWithDuckDb, readsThroughDuckDb } from "../data/duckdb-reader.js";
import { readInteractions, type ReadOptions, type ReadResult } from "../data/readers.js";
import { kCoreFilter, leaveOneOut, testHistory, type LeaveOneOutSplit } from "../data/split.js";
import { evalUserSample, sampleLabel } from "../data/user-sample.js";
import { RecshipError } from "../errors.js";
import type { EvalCase } from "../eval/evaluator.js";
import type { Logger } from "../log.js";
import { stableHash } from "../util/hash.js";
import { sliceUsers, type SliceOptions, type UserSlices } from "./slices.js";

export interface EvalDataOptions extends ReadOptions {
  path: string;
  /** k-core filter applied before the split, as train-model does (0 or undefined: none). */
  kCore?: number;
  excludeSeen: boolean;
  /** Negatives per user for the sampled protocol (0: no sampled metrics). */
  sampledNegatives: number;
  /** Seed of the sampled negatives and of the user sample. */
  seed: number;
  /** Test users to evaluate: a sample seeded by `seed` (0 or undefined: every test user). */
  evalUsers?: number;
  slices: SliceOptions;
  log: Logger;
}

/**
 * The leave-one-out test split of an interaction log, in the log's own item ids ("data
 * space"): every model is scored in this space (its vocabulary mapped onto it), so the
 * candidate and the baseline are compared on the same users, targets and negatives.
 */
export interface EvalData {
  source: string;
  sha256: string;
  bytes: number;
  format: string;
  /** What the evaluation depends on: the file's bytes, how it is read and the protocol. */
  fingerprint: string;
  /** itemIds[i] = original id of data item i (itemIds[0] = "" padding). */
  itemIds: string[];
  numItems: number;
  users: number;
  interactions: number;
  /** Users the test split holds (≥ 3 interactions): `cases` covers all of them, or a seeded sample. */
  eligibleUsers: number;
  /** One per evaluated user, in ascending user order. */
  cases: EvalCase[];
  /** Sampled protocol: negatives per user (drawn per user from `negativesSeed`, the same for every model). */
  negativesPerUser: number;
  negativesSeed: number;
  excludeSeen: boolean;
  /** Interactions per item in the test histories (index 0 unused). */
  popularity: Float64Array;
  slices: UserSlices;
  sliceOptions: SliceOptions;
  kCore: number;
  readSeconds: number;
}

function dataFingerprint(parts: {
  sha256: string;
  read: ReadOptions;
  kCore: number;
  excludeSeen: boolean;
  sampledNegatives: number;
  seed: number;
  /** Users evaluated when a sample (undefined: every test user). */
  sample: number | undefined;
}): string {
  return stableHash({
    sha256: parts.sha256,
    format: parts.read.format ?? "auto",
    user: parts.read.userColumn,
    item: parts.read.itemColumn,
    time: parts.read.timeColumn,
    event: parts.read.eventColumn,
    eventFilter: parts.read.eventFilter?.length ? parts.read.eventFilter : undefined,
    query: parts.read.query?.trim() || undefined,
    kCore: parts.kCore > 1 ? parts.kCore : 0,
    excludeSeen: parts.excludeSeen,
    sampledNegatives: parts.sampledNegatives,
    seed: parts.sampledNegatives > 0 || parts.sample !== undefined ? parts.seed : undefined,
    evalUsers: parts.sample,
  });
}

/** The test cases of `users` (history = everything but the last item, target = the last item). */
function testCases(split: LeaveOneOutSplit, sequences: Int32Array[], users: Int32Array): EvalCase[] {
  return Array.from(users, (u) => ({ user: u, history: testHistory(split, u), target: split.testTarget[u], interacted: sequences[u] }));
}

/** Interactions per item in every user's test history (a user with < 3 interactions: all of them), index 0 unused. */
function itemPopularity(sequences: Int32Array[], numItems: number): Float64Array {
  const popularity = new Float64Array(numItems + 1);
  for (const s of sequences) {
    const end = s.length >= 3 ? s.length - 1 : s.length;
    for (let i = 0; i < end; i++) popularity[s[i]]++;
  }
  return popularity;
}

/** Negatives per user the sampled protocol can draw: as asked, or fewer when the most active user leaves fewer unseen items. */
function negativesPerUser(asked: number, cases: EvalCase[], numItems: number, log: Logger): number {
  const perUser = Math.max(0, Math.floor(asked));
  if (perUser === 0) return 0;
  let mostSeen = 0;
  for (const c of cases) mostSeen = Math.max(mostSeen, new Set(c.interacted).size);
  const possible = Math.max(0, numItems - mostSeen);
  if (possible >= perUser) return perUser;
  log.warn(`only ${possible} unseen items for the most active user: the sampled protocol uses ${possible} negatives, not ${perUser}`);
  return possible;
}

/** What the evaluation takes from the log: its cases (every eligible user's, or a sample's) and what is counted over every user. */
interface TestSplit {
  read: Omit<ReadResult, "log" | "rowsRead" | "rowsSkippedByFilter">;
  itemIds: string[];
  users: number;
  interactions: number;
  eligibleUsers: number;
  cases: EvalCase[];
  popularity: Float64Array;
}

function noEligibleUsers(path: string): RecshipError {
  return new RecshipError("no user has the 3 or more interactions that leave-one-out evaluation needs", {
    where: path,
    fix: "check the user column and the event filter, or pass the data the model was trained on",
  });
}

/** Every row into JavaScript, the k-core filter, leave-one-out, then the sample's cases. */
async function splitInJavaScript(options: EvalDataOptions, kCore: number): Promise<TestSplit> {
  const read = await readInteractions(options.path, options);
  const interactions = kCore ? kCoreFilter(read.log, kCore) : read.log;
  const split = leaveOneOut(interactions);
  if (split.evalUsers.length === 0) throw noEligibleUsers(options.path);
  const users = evalUserSample(split.evalUsers, options.evalUsers ?? 0, options.seed);
  return {
    read,
    itemIds: interactions.itemIds,
    users: interactions.userIds.length,
    interactions: interactions.interactions,
    eligibleUsers: split.evalUsers.length,
    cases: testCases(split, interactions.sequences, users),
    popularity: itemPopularity(interactions.sequences, split.numItems),
  };
}

/** A sample of a log DuckDB reads: only the sampled users' rows leave it (the same cases and counts as splitInJavaScript). */
async function splitInDuckDb(options: EvalDataOptions): Promise<TestSplit> {
  const read = await readSampleWithDuckDb(options.path, options, (eligible) => {
    if (eligible.length === 0) throw noEligibleUsers(options.path);
    return evalUserSample(eligible, options.evalUsers ?? 0, options.seed);
  });
  const cases = Array.from(read.picked, (user, i) => {
    const s = read.sequences[i];
    return { user, history: s.slice(0, s.length - 1), target: s[s.length - 1], interacted: s };
  });
  const { itemIds, users, interactions, eligible, popularity } = read;
  return { read, itemIds, users, interactions, eligibleUsers: eligible.length, cases, popularity };
}

/**
 * The test split of the log at `options.path`; with `evalUsers`, the cases of a seeded sample of
 * its users only (item popularity and the head/tail slices still come from every user). A
 * sample of a log DuckDB reads (Parquet, a query) moves only the sample's rows into JavaScript.
 */
export async function loadEvalData(options: EvalDataOptions): Promise<EvalData> {
  const { log } = options;
  const t0 = performance.now();
  const kCore = options.kCore && options.kCore > 1 ? options.kCore : 0;
  const sampledInSql = !kCore && (options.evalUsers ?? 0) > 0 && readsThroughDuckDb(options.path, options);
  const { read, itemIds, users, interactions, eligibleUsers, cases, popularity } = sampledInSql
    ? await splitInDuckDb(options)
    : await splitInJavaScript(options, kCore);
  const numItems = itemIds.length - 1;
  const sample = cases.length < eligibleUsers ? cases.length : undefined;
  const perUser = negativesPerUser(options.sampledNegatives, cases, numItems, log);
  const slices = sliceUsers(
    cases.map((c) => c.history.length),
    cases.map((c) => c.target),
    popularity,
    options.slices,
  );
  const readSeconds = (performance.now() - t0) / 1000;
  log.info(
    `evaluation data ${options.path}: ${users} users, ${numItems} items, ${interactions} interactions; ` +
      `${sampleLabel(cases.length, eligibleUsers)} test users${sample ? ` (a sample seeded by ${options.seed})` : ""} (leave-one-out${kCore ? `, ${kCore}-core` : ""}) in ${readSeconds.toFixed(1)}s`,
  );
  return {
    source: options.path,
    sha256: read.sha256,
    bytes: read.bytes,
    format: read.format,
    fingerprint: dataFingerprint({
      sha256: read.sha256,
      read: { ...options, format: read.format },
      kCore,
      excludeSeen: options.excludeSeen,
      sampledNegatives: perUser,
      seed: options.seed,
      sample,
    }),
    itemIds,
    numItems,
    users,
    interactions,
    eligibleUsers,
    cases,
    negativesPerUser: perUser,
    negativesSeed: options.seed,
    excludeSeen: options.excludeSeen,
    popularity,
    slices,
    sliceOptions: options.slices,
    kCore,
    readSeconds,
  };
}
