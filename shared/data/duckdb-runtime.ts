import type * as DuckDb from "@duckdb/node-api";
import { loadNativeModule } from "../util/native-module.js";

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
  loaded ??= loadNativeModule<DuckDbApi>(
    {
      name: "@duckdb/node-api",
      neededFor: "reading Parquet or a SQL query needs it",
      installFix: `run \`npm install @duckdb/node-api@${DUCKDB_NODE_API_VERSION}\`, or set RECSHIP_DUCKDB_DIR to a folder where it is installed (the actions do this themselves)`,
      loadFix: "reinstall @duckdb/node-api for this platform (its native binding comes from @duckdb/node-bindings-<platform>)",
    },
    toolDir,
    import.meta.url,
  );
  return loaded;
}
