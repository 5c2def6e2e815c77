import { RecshipError } from "../errors.js";
import type { OptionReader } from "../util/option-spec.js";
import { Rng } from "../util/random.js";

/** The option's name in every step that evaluates on a user sample (benchmark-gate, compress-model, train-model). */
export const EVAL_USERS = "eval-users";

/**
 * A seeded sample of `size` users without replacement (partial Fisher–Yates on a copy, O(n)),
 * sorted ascending; a size ≤ 0 or ≥ the population is every user (a copy).
 */
export function sampleUsers(users: Int32Array, size: number, seed: number | string): Int32Array {
  if (!(size > 0 && size < users.length)) return users.slice();
  const pool = users.slice();
  const rng = new Rng(seed);
  for (let i = 0; i < size; i++) {
    const j = i + rng.int(pool.length - i);
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.slice(0, size).sort();
}

/** Every `users.length / n`-th user (evenly spaced, no randomness), or all of them when n ≤ 0 or n ≥ their number. */
export function spacedUsers(users: Int32Array, n: number): Int32Array {
  if (!(n > 0 && n < users.length)) return users;
  const step = users.length / n;
  return Int32Array.from({ length: n }, (_, i) => users[Math.floor(i * step)]);
}

/** The evaluation's user sample from a step's seed: every step derives it the same way, so one seed gives one sample of a population. */
export function evalUserSample(users: Int32Array, size: number, seed: number): Int32Array {
  return sampleUsers(users, size, `eval-users:${seed}`);
}

/** "10,000 of 1,234,567" when a sample was evaluated, else "1,234,567": for logs and reports. */
export function sampleLabel(evaluated: number, population: number): string {
  const n = (v: number) => v.toLocaleString("en-US");
  return evaluated < population ? `${n(evaluated)} of ${n(population)}` : n(population);
}

const FIX = `give the number of users to evaluate, e.g. 10000, or 0 to evaluate every test user`;

/** Checks a sample size (a whole number ≥ 0; 0 = every user) given to a step as `where`. */
export function checkSampleSize(size: number | undefined, where: string): void {
  if (size === undefined) return;
  if (!Number.isInteger(size) || size < 0) throw new RecshipError(`${where} must be a whole number ≥ 0, got ${size}`, { fix: FIX });
}

/** The `eval-users` option of a step, checked (0 when not given). */
export function evalUsersFrom(o: OptionReader): number {
  let size: number | undefined;
  try {
    size = o.int(EVAL_USERS);
  } catch (error) {
    if (error instanceof RecshipError) throw new RecshipError(error.message, { fix: FIX });
    throw error;
  }
  checkSampleSize(size, o.where(EVAL_USERS));
  return size ?? 0;
}
