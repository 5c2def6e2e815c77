import { Rng } from "../util/random.js";
import type { ParamSpace, ParamValues } from "./space.js";

export const SAMPLERS = ["halton", "random"] as const;
export type Sampler = (typeof SAMPLERS)[number];

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];

/**
 * The radical inverse of `index` in `base` with each digit position's digits permuted (`perms[k]`
 * for the k-th digit behind the point, 0 included): random digit scrambling, which keeps Halton's
 * strata (b^k points with consecutive indices still fill the b^k cells of width b^-k, in another
 * order) and breaks the lockstep of high bases, where for i < base every coordinate is i/base.
 */
export function scrambledRadicalInverse(index: number, base: number, perms: readonly Int32Array[]): number {
  let result = 0;
  let fraction = 1 / base;
  let i = index;
  for (const perm of perms) {
    result += perm[i % base] * fraction;
    i = Math.floor(i / base);
    fraction /= base;
  }
  return result;
}

/**
 * `count` points in [0, 1)^dims. Halton: point i has the radical inverse of i + 1 in the d-th
 * prime as its d-th coordinate, its digits scrambled by permutations drawn from the seed per
 * dimension and digit position (as SciPy's qmc.Halton does by default), so that another seed gives
 * another, equally even, point set and settings searched side by side do not move in step;
 * random: independent uniform draws from the seed.
 */
export function unitPoints(sampler: Sampler, count: number, dims: number, seed: number): number[][] {
  const rng = new Rng(`tune:${sampler}:${seed}`);
  if (sampler === "random") return Array.from({ length: count }, () => Array.from({ length: dims }, () => rng.next()));
  if (dims > PRIMES.length) throw new Error(`the Halton sampler handles up to ${PRIMES.length} settings`);
  const perms = PRIMES.slice(0, dims).map((base) => {
    // digit positions down to 2^-40: finer than any setting's range needs
    const positions = Math.ceil((40 * Math.LN2) / Math.log(base));
    return Array.from({ length: positions }, () => {
      const perm = Int32Array.from({ length: base }, (_, digit) => digit);
      rng.shuffle(perm);
      return perm;
    });
  });
  return Array.from({ length: count }, (_, i) => perms.map((p, d) => scrambledRadicalInverse(i + 1, PRIMES[d], p)));
}

/** Four significant digits: a learning rate of 0.0031 reads better than 0.003104217. */
const round4 = (v: number) => Number(v.toPrecision(4));

/** A point of the unit cube as a value of each setting. */
export function valuesAt(params: ParamSpace[], u: number[]): ParamValues {
  const values: ParamValues = {};
  params.forEach((p, d) => {
    if (p.kind === "choices") {
      values[p.key] = p.choices[Math.min(p.choices.length - 1, Math.floor(u[d] * p.choices.length))];
    } else if (p.kind === "int") {
      const v = p.log ? Math.exp(Math.log(p.low) + u[d] * (Math.log(p.high + 1) - Math.log(p.low))) : p.low + u[d] * (p.high - p.low + 1);
      values[p.key] = Math.min(p.high, Math.floor(v));
    } else {
      const v = p.log ? Math.exp(Math.log(p.low) + u[d] * (Math.log(p.high) - Math.log(p.low))) : p.low + u[d] * (p.high - p.low);
      values[p.key] = Math.min(p.high, Math.max(p.low, round4(v)));
    }
  });
  return values;
}
