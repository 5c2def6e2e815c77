import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DefaultArtifactClient, ArtifactNotFoundError } from "@actions/artifact";
import type { TuneStore } from "../../shared/tune/store.js";
import type { Logger } from "../../shared/log.js";

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/**
 * A search's entries as artifacts of the workflow run (the jobs of one run see each other's
 * artifacts; names are unique in a run, so an entry stored again, by a re-run job, replaces
 * the old one). Checkpoints are already compressed poorly: level 1 keeps uploads quick.
 */
export class ArtifactTuneStore implements TuneStore {
  readonly description = "the workflow run's artifacts";
  private readonly client = new DefaultArtifactClient();

  constructor(private readonly options: { retentionDays?: number; log: Logger }) {}

  async put(name: string, dir: string): Promise<void> {
    const root = resolve(dir);
    try {
      await this.client.deleteArtifact(name);
      this.options.log.info(`replacing the artifact ${name} (a re-run)`);
    } catch (error) {
      if (!(error instanceof ArtifactNotFoundError)) this.options.log.info(`artifact ${name}: ${(error as Error).message}`);
    }
    await this.client.uploadArtifact(name, await filesUnder(root), root, {
      retentionDays: this.options.retentionDays ?? 7,
      compressionLevel: 1,
    });
  }

  async get(name: string, into: string): Promise<boolean> {
    let id: number;
    try {
      id = (await this.client.getArtifact(name)).artifact.id;
    } catch (error) {
      if (error instanceof ArtifactNotFoundError) return false;
      throw error;
    }
    await this.client.downloadArtifact(id, { path: resolve(into) });
    return true;
  }
}
