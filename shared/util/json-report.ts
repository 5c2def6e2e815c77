import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Writes a step's report as indented JSON (no-op without a path), creating the folder. */
export async function writeJsonReport(path: string | undefined, report: unknown): Promise<void> {
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
