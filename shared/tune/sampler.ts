import { Rng } from "../util/random.js";
import type { ParamSpace, ParamValues } from "./space.js";

export const SAMPLERS = ["halton", "random"] as const;
export type Sampler = (typeof SAMPLERS)[number];

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97];

/** The radical inverse of `index` in `base`: its digits mirrored behind the point (Halton's coordinate). */
export function radicalInverse(index: number, base: number): number {
  let result = 0;
  let fraction = 1 / base;
  for (let i = index; i > 0; i = Math.floor(i / base)) {
    result += (i % base) * fraction;
    fraction /= base;
  }
  return result;
}

/**
 * `count` points in [0, 1)^dims. Halton: point i has the radical inverse of i + 1 in the d-th
 * prime as its d-th coordinate, shifted by a random offset per dimension (Cranley–Patterson
 * rotation, drawn from the seed) so that another seed gives another, equally even, point set;
 * random: independent uniform draws from the seed.
 */
export function unitPoints(sampler: Sampler, count: number, dims: number, seed: number): number[][] {
  const rng = new Rng(`tune:${sampler}:${seed}`);
  if (sampler === "random") return Array.from({ length: count }, () => Array.from({ length: dims }, () => rng.next()));
  if (dims > PRIMES.length) throw new Error(`the Halton sampler handles up to ${PRIMES.length} settings`);
  const shift = Array.from({ length: dims }, () => rng.next());
  return Array.from({ length: count }, (_, i) => shift.map((s, d) => (radicalInverse(i + 1, PRIMES[d]) + s) % 1));
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
