/**
 * A reusable barrier for worker threads over a shared Int32Array [arrived, generation, aborted].
 * The last thread to arrive starts the next generation and wakes the others. A thread that
 * fails sets `aborted`, so the others stop waiting instead of hanging on a step that never ends.
 */
export const BARRIER_INTS = 3;
const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;

class BarrierAborted extends Error {
  constructor() {
    super("another training worker failed");
  }
}

export function arriveAndWait(control: Int32Array, parties: number): void {
  if (parties <= 1) return;
  const generation = Atomics.load(control, GENERATION);
  if (Atomics.add(control, ARRIVED, 1) === parties - 1) {
    Atomics.store(control, ARRIVED, 0);
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
    return;
  }
  while (Atomics.load(control, GENERATION) === generation) {
    if (Atomics.load(control, ABORTED) !== 0) throw new BarrierAborted();
    Atomics.wait(control, GENERATION, generation, 200);
  }
}

export function abortBarrier(control: Int32Array): void {
  Atomics.store(control, ABORTED, 1);
  Atomics.notify(control, GENERATION); // waiters wake, see the flag and throw
}
