import { RecshipError } from "../errors.js";

/**
 * Parsers for option values as the front ends receive them (flag or input text), each failing
 * with a RecshipError that names the flag or input. Shared by the CLI and the actions.
 */

export function int(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new RecshipError(`${flag} must be a whole number, got "${String(value)}"`);
  return n;
}

export function number(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new RecshipError(`${flag} must be a positive number, got "${String(value)}"`);
  return n;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], flag: string): T {
  if (!allowed.includes(value as T)) {
    throw new RecshipError(`${flag} must be one of ${allowed.join(", ")}; got "${String(value)}"`);
  }
  return value as T;
}

export function list(value: unknown): string[] | undefined {
  if (value === undefined || value === "") return undefined;
  return String(value)
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** "all" or a positive whole number of sequences. */
export function paritySequences(value: string | undefined, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "all") return Number.MAX_SAFE_INTEGER;
  const n = int(value, flag);
  if (n === undefined || n < 1) throw new RecshipError(`${flag} must be "all" or a positive whole number, got "${value}"`);
  return n;
}

/** A number ≥ 0 (number() rejects 0, which is a valid budget). */
export function nonNegative(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new RecshipError(`${flag} must be a number ≥ 0, got "${String(value)}"`);
  return n;
}
