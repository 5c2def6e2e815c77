import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

/**
 * Where a search's plan, rungs and trial results (with their checkpoints) go between jobs. The
 * action stores them as artifacts of the workflow run (actions/tune-model/artifact-store.ts),
 * tests and the local mode in a folder. Each entry is a folder under a name unique in the search.
 */
export interface TuneStore {
  readonly description: string;
  /** Stores the folder `dir` under `name` (replacing an entry of that name). */
  put(name: string, dir: string): Promise<void>;
  /** Copies the entry `name` into the folder `into`; false when there is none. */
  get(name: string, into: string): Promise<boolean>;
}

/** Entries as folders `<root>/<name>/`: for tests, the local mode and self-hosted runners with a shared disk. */
export class LocalTuneStore implements TuneStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  get description(): string {
    return `local folder ${this.root}`;
  }

  async put(name: string, dir: string): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const target = join(this.root, name);
    const partial = `${target}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await cp(resolve(dir), partial, { recursive: true });
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
  }

  async get(name: string, into: string): Promise<boolean> {
    const source = join(this.root, name);
    if (!existsSync(source)) return false;
    await mkdir(into, { recursive: true });
    await cp(source, into, { recursive: true });
    return true;
  }
}

/** Entry names of a search (GitHub artifact names: no slashes, unique in the workflow run). */
export const entryNames = {
  plan: (search: string) => `${search}-plan`,
  rung: (search: string, rung: number) => `${search}-rung-${rung}`,
  result: (search: string, trial: string, rung: number) => `${search}-${trial}-r${rung}-result`,
  checkpoint: (search: string, trial: string, rung: number) => `${search}-${trial}-r${rung}-checkpoint`,
};

/** Stores one JSON document as the entry `name` (entry.json in a folder of its own, made under `work`). */
export async function putJson(store: TuneStore, name: string, value: unknown, work: string): Promise<void> {
  const dir = join(work, "outbox", name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "entry.json"), `${JSON.stringify(value, null, 2)}\n`);
  await store.put(name, dir);
  await rm(dir, { recursive: true, force: true });
}

/** The JSON document of the entry `name`, or undefined when there is none. */
export async function getJson<T>(store: TuneStore, name: string, work: string): Promise<T | undefined> {
  const dir = join(work, "inbox", name);
  await rm(dir, { recursive: true, force: true });
  if (!(await store.get(name, dir))) return undefined;
  const text = await readFile(join(dir, "entry.json"), "utf8");
  await rm(dir, { recursive: true, force: true });
  return JSON.parse(text) as T;
}
