import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Logger } from "../log.js";
import { writeSyntheticShopCsv } from "../data/synthetic.js";
import { trainModel, type TrainReport } from "../train/train-model.js";
import { fixed } from "../report/markdown.js";
import { formatDuration } from "../util/format.js";

export interface DemoOptions {
  out: string;
  users?: number;
  epochs?: number;
  log: Logger;
  /** Later chain steps, run in order on the trained bundle (convert-onnx, ...). */
  steps?: DemoStep[];
}

export interface DemoStep {
  name: string;
  run(bundle: string, log: Logger): Promise<{ report: unknown; summary: string }>;
}

export interface DemoReport {
  data: string;
  bundle: string;
  elapsedSeconds: number;
  train: TrainReport;
  [step: string]: unknown;
}

/** The demo pipeline on the built-in synthetic shop: generate data, train, then every chained step. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = Date.now();
  const { log } = options;
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  const data = join(out, "synthetic-shop.csv");
  if (!existsSync(data)) {
    const rows = await writeSyntheticShopCsv(data, { users: options.users ?? 3000, seed: 7, viewNoise: 0.1 });
    log.info(`[1] synthetic shop: ${rows} interaction rows written to ${data}`);
  } else {
    log.info(`[1] synthetic shop: reusing ${data}`);
  }
  log.info("[2] train-model: SASRec on the purchases (views filtered out)");
  const train = await trainModel({
    data,
    userColumn: "user_id",
    itemColumn: "item_id",
    timeColumn: "timestamp",
    eventColumn: "event",
    eventFilter: ["purchase"],
    out: join(out, "bundle"),
    overwrite: true,
    config: "model:\n  hidden: 48\n  maxlen: 30\ntrain:\n  batchTokens: 512\n  negatives: 512\n  learningRate: 0.004",
    overrides: { train: { epochs: options.epochs ?? 25 } },
    maxMinutes: 3,
    log,
  });
  const report: DemoReport = { data, bundle: train.bundle, elapsedSeconds: 0, train };
  let n = 3;
  for (const step of options.steps ?? []) {
    log.info(`[${n++}] ${step.name}`);
    const r = await step.run(train.bundle, log);
    report[step.name] = r.report;
    log.info(r.summary);
  }
  report.elapsedSeconds = (Date.now() - started) / 1000;
  log.info(
    [
      "",
      "── demo summary",
      `model quality (test, full ranking): NDCG@10 ${fixed(train.test.full.ndcg10)} HR@10 ${fixed(train.test.full.hr10)} ` +
        `vs popularity NDCG@10 ${fixed(train.popularity.full.ndcg10)}`,
      `sampled-100 NDCG@10 ${fixed(train.test.sampled?.ndcg10)}; ${train.epochs} epochs on ${train.backend}, ${Math.round(train.sequencesPerSecond)} sequences/s`,
      `bundle: ${train.bundle}`,
      `elapsed: ${formatDuration(report.elapsedSeconds)}`,
    ].join("\n"),
  );
  return report;
}
