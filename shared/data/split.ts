import type { InteractionLog } from "./interaction-log.js";

/** Iteratively drops users and items with fewer than k interactions until none is left. */
export function kCoreFilter(log: InteractionLog, k: number): InteractionLog {
  if (k <= 1) return log;
  let sequences = log.sequences.map((s) => s);
  let userAlive = sequences.map(() => true);
  for (;;) {
    const itemCounts = new Int32Array(log.itemIds.length);
    for (let u = 0; u < sequences.length; u++) if (userAlive[u]) for (const i of sequences[u]) itemCounts[i]++;
    let changed = false;
    sequences = sequences.map((s, u) => {
      if (!userAlive[u]) return s;
      const kept = s.filter((i) => itemCounts[i] >= k);
      if (kept.length !== s.length) changed = true;
      return kept;
    });
    userAlive = userAlive.map((alive, u) => {
      if (alive && sequences[u].length < k) {
        changed = true;
        return false;
      }
      return alive;
    });
    if (!changed) break;
  }
  // re-index items densely so the vocabulary holds only what survived
  const used = new Int32Array(log.itemIds.length);
  for (let u = 0; u < sequences.length; u++) if (userAlive[u]) for (const i of sequences[u]) used[i] = 1;
  const remap = new Int32Array(log.itemIds.length);
  const itemIds = [""];
  for (let i = 1; i < log.itemIds.length; i++) if (used[i]) remap[i] = itemIds.push(log.itemIds[i]) - 1;
  const userIds: string[] = [];
  const kept: Int32Array[] = [];
  let interactions = 0;
  for (let u = 0; u < sequences.length; u++) {
    if (!userAlive[u]) continue;
    userIds.push(log.userIds[u]);
    kept.push(sequences[u].map((i) => remap[i]));
    interactions += sequences[u].length;
  }
  return { userIds, itemIds, sequences: kept, interactions };
}

/**
 * Leave-one-out: the last item of a user is the test target, the second-to-last the validation
 * target, the rest training history. Users with fewer than 3 interactions train only and are
 * left out of evaluation.
 */
export interface LeaveOneOutSplit {
  numItems: number;
  /** Per user: the training part (for users with < 3 items: everything). */
  train: Int32Array[];
  /** Users that take part in evaluation (≥ 3 interactions). */
  evalUsers: Int32Array;
  /** validation: history = train[u], target = validTarget[u]; test: history = train[u] + validTarget[u]. */
  validTarget: Int32Array;
  testTarget: Int32Array;
  /** Users with exactly one interaction (they cannot even train: no next item to predict). */
  singleInteractionUsers: number;
  /** Users with two interactions: train only. */
  twoInteractionUsers: number;
}

export function leaveOneOut(log: InteractionLog): LeaveOneOutSplit {
  const n = log.sequences.length;
  const validTarget = new Int32Array(n);
  const testTarget = new Int32Array(n);
  const evalUsers: number[] = [];
  let single = 0;
  let two = 0;
  const train = log.sequences.map((s, u) => {
    if (s.length >= 3) {
      evalUsers.push(u);
      validTarget[u] = s[s.length - 2];
      testTarget[u] = s[s.length - 1];
      return s.subarray(0, s.length - 2);
    }
    if (s.length === 1) single++;
    else two++;
    return s;
  });
  return {
    numItems: log.itemIds.length - 1,
    train,
    evalUsers: Int32Array.from(evalUsers),
    validTarget,
    testTarget,
    singleInteractionUsers: single,
    twoInteractionUsers: two,
  };
}

/** History for scoring a user's test target: training part plus the validation item. */
export function testHistory(split: LeaveOneOutSplit, user: number): Int32Array {
  const t = split.train[user];
  const h = new Int32Array(t.length + 1);
  h.set(t);
  h[t.length] = split.validTarget[user];
  return h;
}
