import type { CompressReport, MeasuredModel, VariantResult } from "../compress/report.js";
import { sampleLabel } from "../data/user-sample.js";
import { table } from "./markdown.js";

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

const ratio = (v: number) => (Number.isFinite(v) ? `${v.toFixed(3)}×` : "–");
const ms = (v: number) => (v < 10 ? v.toFixed(3) : v.toFixed(1));
const metric = (v: number) => v.toFixed(4);

function signedPct(drop: number): string {
  // a drop is a loss: show it as a negative change
  const change = -drop;
  return `${change >= 0 ? "+" : "−"}${Math.abs(100 * change).toFixed(2)}%`;
}

function mark(v: VariantResult): string {
  return v.chosen ? "✅ **chosen**" : v.eligible ? "✅" : "❌";
}

function name(m: MeasuredModel | VariantResult): string {
  return (m as VariantResult).chosen ? `**${m.method}**` : m.method;
}

/** Latency, throughput and every metric of the baseline and each variant. */
function measurementsTable(all: (MeasuredModel | VariantResult)[]): string {
  return table(
    [
      "model",
      "params",
      "b1 p50 ms",
      "b1 p99 ms",
      "b64 p50 ms",
      "b64 p99 ms",
      "b64 seq/s",
      "val HR@10",
      "val MRR",
      "test NDCG@10",
      "test HR@10",
      "test MRR",
      "test masked NDCG@10",
      "test masked HR@10",
      "ranks changed",
    ],
    all.map((m) => [
      name(m),
      m.parameters.toLocaleString("en-US"),
      ms(m.latency.batch1.p50),
      ms(m.latency.batch1.p99),
      ms(m.latency.batch64.p50),
      ms(m.latency.batch64.p99),
      Math.round(m.latency.batch64.throughput).toLocaleString("en-US"),
      metric(m.validation.hr10),
      metric(m.validation.mrr),
      metric(m.test.ndcg10),
      metric(m.test.hr10),
      metric(m.test.mrr),
      metric(m.test.maskedNdcg10),
      metric(m.test.maskedHr10),
      "rankChangedShare" in m ? `${(100 * m.rankChangedShare).toFixed(1)}%` : "–",
    ]),
  );
}

/** "10,000 of 1,234,567 validation users (seeded sample, seed 7; ...)", or "1,234,567 validation users". */
function usersText(report: CompressReport): string {
  const d = report.data;
  const sampled = d.validationUsers < d.eligibleUsers;
  return `${sampleLabel(d.validationUsers, d.eligibleUsers)} validation users${sampled ? ` (seeded sample, seed ${report.settings.seed}; the same users for every model)` : ""}`;
}

/** The compress-model job summary: the decision table, then measurements, notes and settings. */
export function compressSummaryMarkdown(report: CompressReport): string {
  const b = report.baseline;
  const { maxNdcgDrop, objective } = report.budget;
  const budget = `NDCG@10 loss ≤ ${(100 * maxNdcgDrop).toFixed(2)}% (relative, validation, full ranking), objective: smallest ${objective === "size" ? "file" : "batch-64 latency"}`;
  const decision = table(
    ["variant", "size", "× fp32", "gzip × fp32", "batch-64 p50 × fp32", "val NDCG@10", "Δ vs fp32", "verdict"],
    [
      [`${b.method} (baseline)`, size(b.bytes), "1.000×", "1.000×", "1.000×", metric(b.validation.ndcg10), "–", ""],
      ...report.variants.map((v) => [
        name(v),
        size(v.bytes),
        ratio(v.sizeRatio),
        ratio(v.gzipRatio),
        ratio(v.latencyRatioBatch64),
        metric(v.validation.ndcg10),
        signedPct(v.ndcg10RelDrop),
        `${mark(v)} ${v.verdict}`,
      ]),
    ],
  );
  const measurements = measurementsTable([b, ...report.variants]);
  const parts = [
    "## recship compress-model",
    "",
    report.passed ? `**${report.headline}.**` : `**Failed: ${report.headline}.** The bundle was left unchanged.`,
    "",
    `Budget: ${budget}. ${usersText(report)} from \`${report.data.source}\`.`,
    "",
    decision,
    "",
    "<details><summary>Latency, throughput and all metrics</summary>",
    "",
    measurements,
    "",
    `Latency: onnxruntime-node CPU, ${report.settings.threads} intra-op thread(s), graph optimisation "all"; per batch size ${report.settings.latency.warmup} warm-up calls, ` +
      `then ${report.settings.latency.repetitions} timed calls per model, the models taking turns on the same real validation histories. ` +
      `"ranks changed": validation users whose target moved in the ranking.`,
    "",
    "</details>",
  ];
  const notes = report.variants.filter((v) => v.notes.length > 0);
  if (notes.length > 0) parts.push("", "**Notes**", "", ...notes.map((v) => `- \`${v.method}\`: ${v.notes.join("; ")}`));
  if (report.failed.length > 0) parts.push("", "**Not built**", "", ...report.failed.map((f) => `- \`${f.method}\`: ${f.error}`));
  if (report.warnings.length > 0) parts.push("", "**Warnings**", "", ...report.warnings.map((w) => `- ${w}`));
  return `${parts.join("\n")}\n`;
}
