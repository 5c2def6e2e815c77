import { readInteractions, type ReadOptions } from "../data/readers.js";
import { kCoreFilter, leaveOneOut, testHistory } from "../data/split.js";
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
  /** Seed of the sampled negatives. */
  seed: number;
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
    seed: parts.sampledNegatives > 0 ? parts.seed : undefined,
  });
}

export async function loadEvalData(options: EvalDataOptions): Promise<EvalData> {
  const { log } = options;
  const t0 = performance.now();
  const read = await readInteractions(options.path, options);
  const kCore = options.kCore && options.kCore > 1 ? options.kCore : 0;
  const interactions = kCore ? kCoreFilter(read.log, kCore) : read.log;
  const split = leaveOneOut(interactions);
  if (split.evalUsers.length === 0) {
    throw new RecshipError("no user has the 3 or more interactions that leave-one-out evaluation needs", {
      where: options.path,
      fix: "check the user column and the event filter, or pass the data the model was trained on",
    });
  }
  const numItems = split.numItems;
  const cases: EvalCase[] = Array.from(split.evalUsers, (u) => ({
    user: u,
    history: testHistory(split, u),
    target: split.testTarget[u],
    interacted: interactions.sequences[u],
  }));
  const popularity = new Float64Array(numItems + 1);
  for (const c of cases) for (const item of c.history) popularity[item]++;
  // users with < 3 interactions are not test cases, but their items are still popular
  for (let u = 0; u < interactions.sequences.length; u++)
    if (interactions.sequences[u].length < 3) for (const item of interactions.sequences[u]) popularity[item]++;

  let perUser = Math.max(0, Math.floor(options.sampledNegatives));
  if (perUser > 0) {
    let mostSeen = 0;
    for (const c of cases) mostSeen = Math.max(mostSeen, new Set(c.interacted).size);
    const possible = numItems - mostSeen;
    if (possible < perUser) {
      log.warn(
        `only ${Math.max(0, possible)} unseen items for the most active user: the sampled protocol uses ${Math.max(0, possible)} negatives, not ${perUser}`,
      );
      perUser = Math.max(0, possible);
    }
  }
  const slices = sliceUsers(
    cases.map((c) => c.history.length),
    cases.map((c) => c.target),
    popularity,
    options.slices,
  );
  const readSeconds = (performance.now() - t0) / 1000;
  log.info(
    `evaluation data ${options.path}: ${interactions.userIds.length} users, ${numItems} items, ${interactions.interactions} interactions; ` +
      `${cases.length} test users (leave-one-out${kCore ? `, ${kCore}-core` : ""}) in ${readSeconds.toFixed(1)}s`,
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
    }),
    itemIds: interactions.itemIds,
    numItems,
    users: interactions.userIds.length,
    interactions: interactions.interactions,
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
