import { existsSync } from "node:fs";
import type { LoadedBundle } from "../bundle/bundle-io.js";
import { readSampleWithDuckDb, readsThroughDuckDb } from "../data/duckdb-reader.js";
import { mapSequences, vocabularyMap } from "../data/interaction-log.js";
import { readInteractions, type ReadOptions } from "../data/readers.js";
import { kCoreFilter, leaveOneOut } from "../data/split.js";
import { evalUserSample, sampleLabel } from "../data/user-sample.js";
import { RecshipError } from "../errors.js";
import type { EvalCase } from "../eval/evaluator.js";
import type { Logger } from "../log.js";

export interface CompressEvalData {
  source: string;
  /** Whether the file is byte-identical to the one the bundle was trained on. */
  sameData: boolean;
  /** Users the split can evaluate (≥ 3 interactions): the cases cover all of them, or a seeded sample. */
  eligibleUsers: number;
  /** Validation cases (history = training part, target = second-to-last item), bundle item ids; one per evaluated user, ascending. */
  validation: EvalCase[];
  /** Test cases (history = training part + validation item, target = last item). */
  test: EvalCase[];
  /** Each user's training part (distillation trains on these); empty unless asked for. */
  trainSequences: Int32Array[];
  unknownItems: number;
}

/** Where the bundle's interaction log is and how it was read (bundle.json `data`), unless given explicitly. */
function bundleDataSource(bundle: LoadedBundle, given?: { path: string } & ReadOptions): ({ path: string } & ReadOptions) | undefined {
  if (given) return given;
  const data = bundle.manifest.data;
  const read = (data.read as ReadOptions | undefined) ?? { format: data.format as ReadOptions["format"] };
  return { path: data.source, ...read };
}

/** Which users the validation and test cases cover: a seeded sample of `size` (0: every user). */
export interface UserSampleOptions {
  size: number;
  seed: number;
  /** Every user's training part is needed too (distillation): the whole log is read. */
  trainSequences?: boolean;
}

/**
 * The leave-one-out split train-model evaluated on, rebuilt from the interaction log in the
 * bundle's vocabulary: the same reader options and k-core filter, items mapped to the
 * bundle's dense ids through items.txt (items the bundle does not know are dropped). The
 * validation and test cases are those of one seeded user sample, so every variant is
 * measured on the same users. A sample of a log DuckDB reads (Parquet, a query; no k-core, no
 * distillation) moves only the sample's rows into JavaScript, when every item of the log is in
 * the bundle's vocabulary (else the sample could differ from the full read's, which is used).
 */
export async function loadEvalData(
  bundle: LoadedBundle,
  given: ({ path: string } & ReadOptions) | undefined,
  sample: UserSampleOptions,
  log: Logger,
): Promise<CompressEvalData> {
  const source = checkedSource(bundle, given);
  const kCore = bundle.manifest.data.kCore ?? 0;
  const sampled =
    sample.size > 0 && !sample.trainSequences && kCore <= 1 && readsThroughDuckDb(source.path, source)
      ? await splitSampleInDuckDb(bundle, source, sample, log)
      : undefined;
  const data = sampled ?? (await splitEveryUser(bundle, source, sample, kCore));
  if (!data.sameData)
    log.warn(`${source.path} is not the file the bundle was trained on (sha256 differs); its split is used for the measurements anyway`);
  const users = data.validation.length;
  log.info(
    `evaluation data: ${sampleLabel(users, data.eligibleUsers)} validation and test users from ${source.path}` +
      (users < data.eligibleUsers ? ` (a sample seeded by ${sample.seed}${sampled ? ", read through DuckDB" : ""})` : "") +
      (data.unknownItems ? ` (${data.unknownItems} interactions with items outside the vocabulary dropped)` : ""),
  );
  return data;
}

function checkedSource(bundle: LoadedBundle, given: ({ path: string } & ReadOptions) | undefined): { path: string } & ReadOptions {
  const source = bundleDataSource(bundle, given);
  if (!source || !existsSync(source.path)) {
    throw new RecshipError(
      `compress-model measures accuracy on the bundle's validation split, and its interaction log ${source ? `"${source.path}"` : ""} is not there`,
      {
        where: bundle.dir,
        fix: "run the step where the training data is (bundle.json `data.source`, relative to the working directory), or pass it with --data / the `data` input",
      },
    );
  }
  return source;
}

const noEligibleUsers = (path: string) =>
  new RecshipError("the interaction log has no user with the 3 or more interactions leave-one-out evaluation needs", { where: path });

/** Validation and test cases of `users`, whose whole sequences (bundle ids) `sequenceOf` gives. */
function casesOf(users: Int32Array, sequenceOf: (i: number) => Int32Array): { validation: EvalCase[]; test: EvalCase[] } {
  const validation: EvalCase[] = [];
  const test: EvalCase[] = [];
  users.forEach((user, i) => {
    const s = sequenceOf(i);
    validation.push({ user, history: s.subarray(0, s.length - 2), target: s[s.length - 2], interacted: s });
    test.push({ user, history: s.subarray(0, s.length - 1), target: s[s.length - 1], interacted: s });
  });
  return { validation, test };
}

/** Every row into JavaScript: the k-core filter, the bundle's ids, leave-one-out, then the sample. */
async function splitEveryUser(
  bundle: LoadedBundle,
  source: { path: string } & ReadOptions,
  sample: UserSampleOptions,
  kCore: number,
): Promise<CompressEvalData> {
  const read = await readInteractions(source.path, source);
  const filtered = kCore > 1 ? kCoreFilter(read.log, kCore) : read.log;
  const { sequences, dropped: unknownItems } = mapSequences(filtered.sequences, vocabularyMap(filtered.itemIds, bundle.itemIds));
  const split = leaveOneOut({
    userIds: filtered.userIds,
    itemIds: bundle.itemIds,
    sequences,
    interactions: filtered.interactions - unknownItems,
  });
  if (split.evalUsers.length === 0) throw noEligibleUsers(source.path);
  const users = evalUserSample(split.evalUsers, sample.size, sample.seed);
  return {
    source: source.path,
    sameData: read.sha256 === bundle.manifest.data.sha256,
    eligibleUsers: split.evalUsers.length,
    ...casesOf(users, (i) => sequences[users[i]]),
    trainSequences: sample.trainSequences ? split.train : [],
    unknownItems,
  };
}

/**
 * The sample's rows only, through DuckDB: the same users and cases as splitEveryUser when every
 * item of the log is in the bundle's vocabulary; undefined (read everything) when one is not.
 */
async function splitSampleInDuckDb(
  bundle: LoadedBundle,
  source: { path: string } & ReadOptions,
  sample: UserSampleOptions,
  log: Logger,
): Promise<CompressEvalData | undefined> {
  const read = await readSampleWithDuckDb(
    source.path,
    source,
    (eligible) => {
      if (eligible.length === 0) throw noEligibleUsers(source.path);
      return evalUserSample(eligible, sample.size, sample.seed);
    },
    { popularity: false },
  );
  const toBundle = vocabularyMap(read.itemIds, bundle.itemIds);
  if (toBundle.subarray(1).includes(0)) {
    log.info(`${source.path} has items outside the bundle's vocabulary: reading every row for the evaluation split`);
    return undefined;
  }
  const mapped = mapSequences(read.sequences, toBundle).sequences;
  return {
    source: source.path,
    sameData: read.sha256 === bundle.manifest.data.sha256,
    eligibleUsers: read.eligible.length,
    ...casesOf(read.picked, (i) => mapped[i]),
    trainSequences: [],
    unknownItems: 0,
  };
}
