import { createRequire } from "node:module";
import { join } from "node:path";
import type * as DuckDb from "@duckdb/node-api";
import { RecshipError } from "../errors.js";

export type DuckDbApi = typeof DuckDb;

/** The @duckdb/node-api release recship is tested with (package.json pins the same). */
export const DUCKDB_NODE_API_VERSION = "1.5.6-r.1";

let loaded: DuckDbApi | undefined;

/**
 * Loads @duckdb/node-api, a native module the action bundles (dist/) leave out, as they do
 * onnxruntime: from a tool folder (RECSHIP_DUCKDB_DIR, filled and cached by the actions that
 * read Parquet or a query), next to this code (a source checkout), then the working directory.
 */
export function duckDb(toolDir: string | undefined = process.env.RECSHIP_DUCKDB_DIR): DuckDbApi {
  if (loaded) return loaded;
  const bases = [toolDir ? join(toolDir, "noop.js") : undefined, import.meta.url, join(process.cwd(), "noop.js")].filter(
    Boolean,
  ) as string[];
  for (const base of bases) {
    const req = createRequire(base);
    let entry: string;
    try {
      entry = req.resolve("@duckdb/node-api");
    } catch {
      continue; // not installed there
    }
    try {
      loaded = req(entry) as DuckDbApi;
      return loaded;
    } catch (cause) {
      throw new RecshipError(`@duckdb/node-api is installed (${entry}) but failed to load: ${(cause as Error).message.split("\n")[0]}`, {
        fix: "reinstall @duckdb/node-api for this platform (its native binding comes from @duckdb/node-bindings-<platform>)",
        cause,
      });
    }
  }
  throw new RecshipError("@duckdb/node-api is not installed, and reading Parquet or a SQL query needs it", {
    fix: `run \`npm install @duckdb/node-api@${DUCKDB_NODE_API_VERSION}\`, or set RECSHIP_DUCKDB_DIR to a folder where it is installed (the actions do this themselves)`,
  });
}
