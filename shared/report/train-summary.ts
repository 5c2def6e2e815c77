import type { TrainReport } from "../train/train-model.js";
import { sampleLabel } from "../data/user-sample.js";
import { fixed, mermaidLineChart, table } from "./markdown.js";
import { formatDuration } from "../util/format.js";

/** " Over 10,000 of 1,234,567 users (seeded sample, seed 42)." when the evaluation was a sample (`eval-users`), else nothing. */
function evaluatedUsers(report: TrainReport): string {
  const { users, eligibleUsers, seed } = report.evaluation;
  return users < eligibleUsers ? ` Over ${sampleLabel(users, eligibleUsers)} users (seeded sample, seed ${seed}).` : "";
}

/** The train-model job summary: the metrics table, the training curve, the run's facts. */
export function trainSummaryMarkdown(report: TrainReport): string {
  const m = (block: TrainReport["test"], proto: "full" | "fullMasked" | "sampled", key: string) => fixed(block[proto]?.[key]);
  const row = (name: string, block: TrainReport["test"]) => [
    name,
    m(block, "full", "ndcg10"),
    m(block, "full", "hr10"),
    m(block, "fullMasked", "ndcg10"),
    m(block, "fullMasked", "hr10"),
    m(block, "full", "mrr"),
    m(block, "sampled", "ndcg10"),
    m(block, "sampled", "hr10"),
  ];
  const rows = [
    row("SASRec (test)", report.test),
    row("Popularity (test)", report.popularity),
    row("SASRec (validation)", report.validation),
  ];
  const epochs = report.history.map((h) => h.epoch);
  const parts = [
    "## recship train-model",
    "",
    `Trained ${report.epochs} epochs (best: ${report.bestEpoch}, stopped by ${report.stoppedBy}) in ${formatDuration(report.trainSeconds)} ` +
      `on the \`${report.backend}\` backend, ${Math.round(report.sequencesPerSecond)} sequences/s; ${report.parameters.toLocaleString("en-US")} parameters. ` +
      `Data: ${report.data.users.toLocaleString("en-US")} users, ${report.data.items.toLocaleString("en-US")} items, ${report.data.interactions.toLocaleString("en-US")} interactions (sha256 \`${report.data.sha256.slice(0, 12)}\`).`,
    "",
    table(["model", "NDCG@10", "HR@10", "masked NDCG@10", "masked HR@10", "MRR", "sampled NDCG@10", "sampled HR@10"], rows),
    "",
    "NDCG@10, HR@10, MRR: the target ranked among all items; masked: the user's history masked first (the protocol of published results); sampled: the target against 100 unseen random items (SASRec protocol)." +
      evaluatedUsers(report),
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
