/** Time as the analysis sees it: real, or (tests over recorded data) a clock that jumps. */
export interface Clock {
  now(): number;
  /** Waits until `at` (ms since the epoch). */
  sleepUntil(at: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleepUntil: (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now()))),
};

/** A clock that starts at `start` and jumps instead of waiting (for data recorded at a fixed time). */
export function jumpingClock(start: number): Clock & { set(at: number): void } {
  let t = start;
  return {
    now: () => t,
    sleepUntil: async (at) => {
      t = Math.max(t, at);
    },
    set: (at) => {
      t = at;
    },
  };
}
