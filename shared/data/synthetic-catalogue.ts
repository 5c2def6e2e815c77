/**
 * A synthetic catalogue at warehouse scale (10^6 items, 10^8 events), written as a folder of
 * Parquet parts by DuckDB in SQL: the rows never pass through JavaScript, every random draw is a
 * hash of (seed, user, position), so the same options give the same rows on any thread count.
 *
 * The shape, per user: a history length with a long tail (3 + exponential), sessions of a few
 * events around an anchor item drawn from a Zipf-like popularity (rank r with probability ∝ 1/r),
 * the other events of a session the anchor's neighbours (its "accessories": the next ranks),
 * repeat purchases of the previous session's anchor, and increasing timestamps (minutes within a
 * session, a day between sessions). Item ids are ranks under a fixed permutation, so id order
 * says nothing about popularity.
 */
import { mkdir, readdir, rm } from "node:fs/promises";
import { RecshipError } from "../errors.js";
import { duckDb } from "./duckdb-runtime.js";

export interface CatalogueOptions {
  items: number;
  events: number;
  /** Mean history length (default 20): users = events / meanLength. */
  meanLength?: number;
  /** Events per session (default 4). */
  sessionLength?: number;
  /** Probability that an event repeats the previous session's anchor (default 0.1). */
  repeatRate?: number;
  seed?: number;
  /** DuckDB's threads and memory limit (defaults: DuckDB's; the limit lets it spill to disk). */
  threads?: number;
  memoryLimit?: string;
  /** Parquet parts of about this size (default 256 MB). */
  partBytes?: number;
}

export interface CatalogueResult {
  rows: number;
  users: number;
  files: string[];
}

/** A uniform draw in [0, 1) from DuckDB's 64-bit hash of the arguments. */
const uniform = (...args: string[]) => `(hash(${args.join(", ")}) / 18446744073709551616.0)`;

/** A multiplier that permutes 1..n (a prime above n is coprime with n). */
function permutationMultiplier(n: number): number {
  return 2_147_483_647 % n || 1;
}

/** The users, their history lengths and where each one's events start (the last user cut to the event count). */
function usersSql(o: Required<Pick<CatalogueOptions, "events" | "meanLength" | "seed">>): string {
  const users = Math.max(1, Math.ceil(o.events / o.meanLength));
  const length = `LEAST(500, 3 + floor(-ln(1 - ${uniform(String(o.seed), "u", "'length'")}) * ${o.meanLength - 3}))::BIGINT`;
  return `SELECT u, start, LEAST(len, ${o.events} - start) AS len FROM (
      SELECT u, len, (sum(len) OVER (ORDER BY u))::BIGINT - len AS start FROM (SELECT range AS u, ${length} AS len FROM range(${users * 2})))
    WHERE start < ${o.events}`;
}

/** The rows: one per (user, position), its item and time (see the file's comment). */
function rowsSql(o: Required<Omit<CatalogueOptions, "threads" | "memoryLimit" | "partBytes">>): string {
  const s = String(o.seed);
  const session = `(pos // ${o.sessionLength})`;
  const zipfRank = (draw: string) => `LEAST(${o.items}, floor(exp(${draw} * ln(${o.items})))::BIGINT)`;
  const anchor = (sess: string) => zipfRank(uniform(s, "u", sess, "'anchor'"));
  const neighbour = `LEAST(${o.items}, anchor + floor(${uniform(s, "u", "pos", "'next'")} * 8)::BIGINT)`;
  const rank = `CASE WHEN pos % ${o.sessionLength} = 0 THEN anchor
      WHEN ${session} > 0 AND ${uniform(s, "u", "pos", "'repeat'")} < ${o.repeatRate} THEN previous
      ELSE ${neighbour} END`;
  const id = `1 + ((rank - 1) * ${permutationMultiplier(o.items)}) % ${o.items}`;
  const time = `1600000000 + (hash(${s}, u, 'start') % 30000000)::BIGINT + ${session} * 86400 + pos * 60`;
  return `SELECT u AS user_id, ${id} AS item_id, ${time} AS ts FROM (
      SELECT u, pos, ${rank} AS rank FROM (
        SELECT u, pos, ${anchor(session)} AS anchor, ${anchor(`${session} - 1`)} AS previous
        FROM (SELECT u, unnest(range(len)) AS pos FROM (${usersSql(o)}))))`;
}

function checkOptions(o: CatalogueOptions): void {
  const bad = (what: string, value: number) =>
    new RecshipError(`the synthetic catalogue needs ${what}, got ${value}`, { fix: "for example --items 1000000 --events 100000000" });
  if (!Number.isInteger(o.items) || o.items < 10) throw bad("at least 10 items (a whole number)", o.items);
  if (!Number.isInteger(o.events) || o.events < 1) throw bad("at least 1 event (a whole number)", o.events);
  if (o.meanLength !== undefined && !(o.meanLength >= 4)) throw bad("a mean history length of at least 4", o.meanLength);
}

/**
 * Writes the catalogue to `dir` (replaced) as Parquet parts (user_id, item_id, ts: BIGINT each),
 * zstd-compressed, in user order.
 */
export async function writeSyntheticCatalogue(dir: string, options: CatalogueOptions): Promise<CatalogueResult> {
  checkOptions(options);
  const o = { meanLength: 20, sessionLength: 4, repeatRate: 0.1, seed: 1, ...options };
  const settings: Record<string, string> = { preserve_insertion_order: "true" };
  if (o.threads) settings.threads = String(o.threads);
  if (o.memoryLimit) settings.memory_limit = o.memoryLimit;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const instance = await duckDb().DuckDBInstance.create(":memory:", settings);
  const con = await instance.connect();
  try {
    const partBytes = o.partBytes ?? 256 * 2 ** 20;
    const escaped = dir.replace(/'/g, "''");
    const result = await con.runAndReadAll(
      `COPY (${rowsSql(o)}) TO '${escaped}' (FORMAT parquet, COMPRESSION zstd, FILE_SIZE_BYTES ${partBytes}, OVERWRITE_OR_IGNORE)`,
    );
    const rows = Number(result.getRows()[0]?.[0] ?? 0);
    const users = Number(
      (await con.runAndReadAll(`SELECT count(DISTINCT user_id) FROM read_parquet('${escaped}/*.parquet')`)).getRows()[0][0],
    );
    const files = (await readdir(dir)).filter((f) => f.endsWith(".parquet")).sort();
    return { rows, users, files };
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}
