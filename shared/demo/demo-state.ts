import { existsSync } from "node:fs";
import { cp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RecshipError } from "../errors.js";

const DEMO_STATE_FILE = "demo-state.json";
const PROMOTED_DIR = "promoted";

/** The model the last promotion put in production: the next run's stable. */
export interface PromotedModel {
  /** A copy of the promoted bundle, `<out>/promoted`. */
  bundle: string;
  /** The served model version (first 12 hex digits of the ONNX file's sha256). */
  version: string;
  /** The served artifact: a compressed variant's name, or "onnx". */
  artifact: string;
  run: number;
  promotedAt: string;
}

/** What one demo run leaves for the next, in `<out>/demo-state.json`. */
export interface DemoState {
  schema: 1;
  /** Runs started in this folder so far. */
  runs: number;
  promoted?: PromotedModel;
}

export async function readDemoState(out: string): Promise<DemoState> {
  const path = join(out, DEMO_STATE_FILE);
  if (!existsSync(path)) return { schema: 1, runs: 0 };
  let state: DemoState;
  try {
    state = JSON.parse(await readFile(path, "utf8")) as DemoState;
  } catch (cause) {
    throw new RecshipError("the demo state file is not valid JSON", { where: path, fix: "delete it (the next run starts afresh)", cause });
  }
  if (state.schema !== 1 || !Number.isInteger(state.runs)) {
    throw new RecshipError("this is not a demo state file recship wrote", { where: path, fix: "delete it, or pick another --out folder" });
  }
  // a promoted copy deleted by hand: start over from this run's own export
  if (state.promoted && !existsSync(join(state.promoted.bundle, "bundle.json"))) delete state.promoted;
  return state;
}

export async function writeDemoState(out: string, state: DemoState): Promise<void> {
  const path = join(out, DEMO_STATE_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

/** Copies the promoted bundle to `<out>/promoted` (complete or not at all) and returns its record. */
export async function keepPromoted(
  out: string,
  bundle: string,
  model: { version: string; artifact: string; run: number },
): Promise<PromotedModel> {
  const target = join(out, PROMOTED_DIR);
  const partial = `${target}.partial`;
  await rm(partial, { recursive: true, force: true });
  await cp(bundle, partial, { recursive: true, filter: (src) => !/[\\/]\.compress-[^\\/]*$/.test(src) });
  await rm(target, { recursive: true, force: true });
  await rename(partial, target);
  return { bundle: target, ...model, promotedAt: new Date().toISOString() };
}
