import type { TrainReport } from "../train/train-model.js";
import { fixed, mermaidLineChart, table } from "./markdown.js";
import { formatDuration } from "../util/format.js";

/** The train-model job summary: the metrics table, the training curve, the run's facts. */
export function trainSummaryMarkdown(report: TrainReport): string {
  const m = (block: TrainReport["test"], proto: "full" | "sampled", key: string) => fixed(block[proto]?.[key]);
  const rows = [
    [
      "SASRec (test)",
      m(report.test, "full", "ndcg10"),
      m(report.test, "full", "hr10"),
      m(report.test, "full", "mrr"),
      m(report.test, "sampled", "ndcg10"),
      m(report.test, "sampled", "hr10"),
    ],
    [
      "Popularity (test)",
      m(report.popularity, "full", "ndcg10"),
      m(report.popularity, "full", "hr10"),
      m(report.popularity, "full", "mrr"),
      m(report.popularity, "sampled", "ndcg10"),
      m(report.popularity, "sampled", "hr10"),
    ],
    [
      "SASRec (validation)",
      m(report.validation, "full", "ndcg10"),
      m(report.validation, "full", "hr10"),
      m(report.validation, "full", "mrr"),
      m(report.validation, "sampled", "ndcg10"),
      m(report.validation, "sampled", "hr10"),
    ],
  ];
  const epochs = report.history.map((h) => h.epoch);
  const parts = [
    "## recship train-model",
    "",
    `Trained ${report.epochs} epochs (best: ${report.bestEpoch}, stopped by ${report.stoppedBy}) in ${formatDuration(report.trainSeconds)} ` +
      `on the \`${report.backend}\` backend, ${Math.round(report.sequencesPerSecond)} sequences/s; ${report.parameters.toLocaleString("en-US")} parameters. ` +
      `Data: ${report.data.users.toLocaleString("en-US")} users, ${report.data.items.toLocaleString("en-US")} items, ${report.data.interactions.toLocaleString("en-US")} interactions (sha256 \`${report.data.sha256.slice(0, 12)}\`).`,
    "",
    table(["model", "NDCG@10", "HR@10", "MRR", "sampled NDCG@10", "sampled HR@10"], rows),
    "",
    "Full ranking over all items; sampled = the target against 100 unseen random items (SASRec protocol).",
  ];
  if (report.history.length > 1) {
    parts.push(
      "",
      mermaidLineChart({
        title: "Validation NDCG@10 by epoch",
        xLabel: "epoch",
        yLabel: "NDCG@10",
        x: epochs,
        series: [{ name: "validation NDCG@10", values: report.history.map((h) => h.valid.ndcg10) }],
      }),
      "",
      mermaidLineChart({
        title: "Training loss by epoch",
        xLabel: "epoch",
        yLabel: "loss",
        x: epochs,
        series: [{ name: "loss", values: report.history.map((h) => h.loss) }],
      }),
    );
  }
  if (report.warnings.length > 0) parts.push("", "**Warnings**", "", ...report.warnings.map((w) => `- ${w}`));
  return `${parts.join("\n")}\n`;
}
