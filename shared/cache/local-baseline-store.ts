import { existsSync } from "node:fs";
import { cp, mkdir, readdir, rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BaselineRef, BaselineStore, RestoredBaseline, SaveResult } from "./baseline-store.js";

/**
 * Baselines in a local folder: `<root>/<model>/<branch>/<stamp>/`, newest stamp wins. For
 * tests, the CLI and self-hosted runners with a persistent disk.
 */
export class LocalBaselineStore implements BaselineStore {
  readonly root: string;
  private counter = 0;

  constructor(root: string) {
    this.root = resolve(root);
  }

  get description(): string {
    return `local folder ${this.root}`;
  }

  private folder(ref: BaselineRef): string {
    return join(this.root, encodeURIComponent(ref.model), encodeURIComponent(ref.branch));
  }

  async restore(ref: BaselineRef): Promise<RestoredBaseline | undefined> {
    const folder = this.folder(ref);
    if (!existsSync(folder)) return undefined;
    const stamps = (await readdir(folder, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && /^\d{13}-\d{6}-\d+$/.test(e.name))
      .map((e) => e.name)
      .sort();
    const newest = stamps.at(-1);
    return newest ? { dir: join(folder, newest), origin: `${this.description} (${ref.model} on ${ref.branch}, ${newest})` } : undefined;
  }

  async save(ref: BaselineRef, dir: string): Promise<SaveResult> {
    const folder = this.folder(ref);
    await mkdir(folder, { recursive: true });
    const stamp = `${String(Date.now()).padStart(13, "0")}-${String(++this.counter).padStart(6, "0")}-${process.pid}`;
    const partial = join(folder, `.partial-${stamp}`);
    await cp(resolve(dir), partial, { recursive: true });
    await rename(partial, join(folder, stamp));
    // keep the three newest
    const old = (await readdir(folder))
      .filter((n) => /^\d{13}-\d{6}-\d+$/.test(n))
      .sort()
      .slice(0, -3);
    for (const n of old) await rm(join(folder, n), { recursive: true, force: true });
    return { saved: true, key: `${ref.model}/${ref.branch}/${stamp}` };
  }
}
