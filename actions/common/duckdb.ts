import type { Logger } from "../../shared/log.js";
import { readsThroughDuckDb } from "../../shared/data/duckdb-reader.js";
import { DUCKDB_NODE_API_VERSION, duckDb } from "../../shared/data/duckdb-runtime.js";
import type { ReadOptions } from "../../shared/data/readers.js";
import { installToolPackage } from "./tool-install.js";

/**
 * Makes @duckdb/node-api loadable when a step will read Parquet or run a query: the dist bundle
 * leaves the native module out, so unless the runner already has it, it goes into a cached tool
 * folder (the npm package's platform binding carries libduckdb; no install script). Sets RECSHIP_DUCKDB_DIR.
 */
export async function ensureDuckDbFor(path: string | undefined, read: ReadOptions, log: Logger): Promise<void> {
  if (!path || !readsThroughDuckDb(path, read)) return;
  try {
    duckDb();
    return;
  } catch {
    // not on the runner: install it below
  }
  const dir = await installToolPackage(
    { name: "@duckdb/node-api", version: DUCKDB_NODE_API_VERSION, runInstallScript: false, note: "reads Parquet and SQL queries" },
    log,
  );
  process.env.RECSHIP_DUCKDB_DIR = dir;
  duckDb(dir);
}
