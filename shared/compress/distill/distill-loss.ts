import type { BatchCandidates } from "../../model/distill-objective.js";
import type { Rng } from "../../util/random.js";
import type { IndexedBatch, TeacherTargets } from "./teacher-targets.js";

/** Gathers a batch's targets, the teacher's data for them, shared negatives and the duplicate mask. */
export function batchCandidates(b: IndexedBatch, teacher: TeacherTargets, numItems: number, negatives: number, rng: Rng): BatchCandidates {
  const { batch } = b;
  const tokens = batch.tokens;
  const k = teacher.topK;
  const positions = new Int32Array(tokens);
  const targets = new Int32Array(tokens);
  let t = 0;
  for (let i = 0; i < batch.targets.length; i++) {
    if (batch.targets[i] !== 0) {
      positions[t] = i;
      targets[t++] = batch.targets[i];
    }
  }
  const top = new Int32Array(tokens * k);
  const teacherStates = new Float32Array(tokens * teacher.hidden);
  let row = 0;
  for (const e of b.examples) {
    top.set(teacher.top[e], row * k);
    teacherStates.set(teacher.states[e], row * teacher.hidden);
    row += teacher.top[e].length / k;
  }
  const n = Math.min(negatives, numItems);
  const neg = new Int32Array(n);
  for (let j = 0; j < n; j++) neg[j] = 1 + rng.int(numItems);
  const width = 1 + k + n;
  const mask = new Float32Array(tokens * width);
  const seen = new Set<number>();
  for (let r = 0; r < tokens; r++) {
    seen.clear();
    seen.add(targets[r]);
    for (let j = 0; j < k; j++) {
      const item = top[r * k + j];
      if (seen.has(item)) mask[r * width + 1 + j] = -1e9;
      else seen.add(item);
    }
    for (let j = 0; j < n; j++) {
      const item = neg[j];
      if (seen.has(item)) mask[r * width + 1 + k + j] = -1e9;
      else seen.add(item);
    }
  }
  return { tokens, positions, targets, top, negatives: neg, mask, teacherStates };
}
