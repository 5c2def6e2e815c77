import { existsSync } from "node:fs";
import type { LoadedBundle } from "../bundle/bundle-io.js";
import { readInteractions, type ReadOptions } from "../data/readers.js";
import { kCoreFilter, leaveOneOut, testHistory } from "../data/split.js";
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
  /** Each user's training part (distillation trains on these). */
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
}

/**
 * The leave-one-out split train-model evaluated on, rebuilt from the interaction log in the
 * bundle's vocabulary: the same reader options and k-core filter, items mapped to the
 * bundle's dense ids through items.txt (items the bundle does not know are dropped). The
 * validation and test cases are those of one seeded user sample, so every variant is
 * measured on the same users; the training sequences are every user's.
 */
export async function loadEvalData(
  bundle: LoadedBundle,
  given: ({ path: string } & ReadOptions) | undefined,
  sample: UserSampleOptions,
  log: Logger,
): Promise<CompressEvalData> {
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
  const read = await readInteractions(source.path, source);
  const sameData = read.sha256 === bundle.manifest.data.sha256;
  if (!sameData)
    log.warn(`${source.path} is not the file the bundle was trained on (sha256 differs); its split is used for the measurements anyway`);
  const kCore = bundle.manifest.data.kCore ?? 0;
  const filtered = kCore > 1 ? kCoreFilter(read.log, kCore) : read.log;
  const dense = new Map<string, number>();
  bundle.itemIds.forEach((id, i) => {
    if (i > 0) dense.set(id, i);
  });
  const toBundle = filtered.itemIds.map((id, i) => (i === 0 ? 0 : (dense.get(id) ?? 0)));
  let unknownItems = 0;
  const sequences = filtered.sequences.map((s) => {
    const known: number[] = [];
    for (const item of s) {
      const d = toBundle[item];
      if (d === 0) unknownItems++;
      else known.push(d);
    }
    return Int32Array.from(known);
  });
  const split = leaveOneOut({
    userIds: filtered.userIds,
    itemIds: bundle.itemIds,
    sequences,
    interactions: filtered.interactions - unknownItems,
  });
  if (split.evalUsers.length === 0) {
    throw new RecshipError("the interaction log has no user with the 3 or more interactions leave-one-out evaluation needs", {
      where: source.path,
    });
  }
  const users = evalUserSample(split.evalUsers, sample.size, sample.seed);
  const validation: EvalCase[] = Array.from(users, (u) => ({
    user: u,
    history: split.train[u],
    target: split.validTarget[u],
    interacted: sequences[u],
  }));
  const test: EvalCase[] = Array.from(users, (u) => ({
    user: u,
    history: testHistory(split, u),
    target: split.testTarget[u],
    interacted: sequences[u],
  }));
  log.info(
    `evaluation data: ${sampleLabel(users.length, split.evalUsers.length)} validation and test users from ${source.path}` +
      (users.length < split.evalUsers.length ? ` (a sample seeded by ${sample.seed})` : "") +
      (unknownItems ? ` (${unknownItems} interactions with items outside the vocabulary dropped)` : ""),
  );
  return {
    source: source.path,
    sameData,
    eligibleUsers: split.evalUsers.length,
    validation,
    test,
    trainSequences: split.train,
    unknownItems,
  };
}
