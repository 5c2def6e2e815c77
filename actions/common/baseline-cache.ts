import { cp, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import * as cache from "@actions/cache";
import {
  baselineKeyPrefix,
  type BaselineRef,
  type BaselineStore,
  type RestoredBaseline,
  type SaveResult,
} from "../../shared/cache/baseline-store.js";
import type { Logger } from "../../shared/log.js";

/**
 * Baselines in the GitHub Actions cache: one entry per save, keyed
 * `recship-baseline-v1/<model>/<branch>/<run id>-<attempt>`; a restore takes the newest
 * entry under the model and branch prefix. Pull requests can read their base branch's
 * entries, which is how a pull request finds the main branch's baseline. Entries unused for
 * 7 days are evicted by GitHub, so a quiet main branch eventually starts over as a first run.
 */
export class ActionsCacheBaselineStore implements BaselineStore {
  readonly description = "the GitHub Actions cache";

  constructor(
    private readonly options: {
      /** Folder (relative to the workspace) the baseline is restored into and saved from. */
      root: string;
      runId: string;
      runAttempt: string;
      log: Logger;
    },
  ) {}

  /** The same path string on save and restore: the cache entry's version depends on it. */
  private path(ref: BaselineRef): string {
    return join(this.options.root, encodeURIComponent(ref.model));
  }

  async restore(ref: BaselineRef): Promise<RestoredBaseline | undefined> {
    if (!cache.isFeatureAvailable()) {
      this.options.log.warn("the GitHub Actions cache is not available to this run: no stored baseline can be restored");
      return undefined;
    }
    const path = this.path(ref);
    await rm(path, { recursive: true, force: true });
    const prefix = baselineKeyPrefix(ref);
    const key = await cache.restoreCache([path], `${prefix}newest`, [prefix]);
    return key ? { dir: resolve(path), origin: `the actions cache (${key})` } : undefined;
  }

  async save(ref: BaselineRef, dir: string): Promise<SaveResult> {
    if (!cache.isFeatureAvailable()) return { saved: false, reason: "the GitHub Actions cache is not available to this run" };
    const path = this.path(ref);
    if (resolve(path) !== resolve(dir)) {
      await rm(path, { recursive: true, force: true });
      await cp(dir, path, { recursive: true });
    }
    const key = `${baselineKeyPrefix(ref)}${this.options.runId}-${this.options.runAttempt}`;
    try {
      const id = await cache.saveCache([path], key);
      return id === -1 ? { saved: false, key, reason: "the cache service did not accept the entry" } : { saved: true, key };
    } catch (error) {
      return { saved: false, key, reason: (error as Error).message };
    }
  }
}
