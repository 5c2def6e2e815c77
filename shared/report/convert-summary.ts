import type { ConvertReport } from "../convert/convert-bundle.js";
import { table } from "./markdown.js";

const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : String(v));
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const mark = (ok: boolean) => (ok ? "✅" : "❌");
const count = (n: number) => n.toLocaleString("en-US");

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** The convert-onnx job summary: what was written, the parity table, the model's signature. */
export function convertSummaryMarkdown(report: ConvertReport): string {
  const p = report.parity;
  const t = p.tolerance;
  const external = report.externalData ? ` + ${size(report.externalData.bytes)} external data in \`${report.externalData.file}\`` : "";
  const rows: (string | number)[][] = [
    ["max |Δ| of the scores", sci(p.maxAbsDiff), `≤ ${sci(t.maxAbsDiff)}`, mark(p.maxAbsDiff <= t.maxAbsDiff)],
    ["max |Δ| of the user embeddings", sci(p.embeddingMaxAbsDiff), `≤ ${sci(t.maxAbsDiff)}`, mark(p.embeddingMaxAbsDiff <= t.maxAbsDiff)],
    ["max relative Δ of the scores", sci(p.maxRelDiff), "–", ""],
    [
      "top-10 agreement, tfjs vs onnxruntime",
      pct(p.top10Agreement),
      `≥ ${pct(t.minTop10Agreement)}`,
      mark(p.top10Agreement >= t.minTop10Agreement),
    ],
    [
      "top-10 agreement, optimisation all vs disabled",
      pct(p.optimizedTop10Agreement),
      `≥ ${pct(t.minTop10Agreement)}`,
      mark(p.optimizedTop10Agreement >= t.minTop10Agreement),
    ],
    ["rows where top_items/top_scores contradict scores", p.inconsistentTopK, "0", mark(p.inconsistentTopK === 0)],
  ];
  const parts = [
    "## recship convert-onnx",
    "",
    `${p.passed ? `Exported the ${report.kind} model as \`${report.model}\`` : `**Parity check failed**: the ${report.kind} model export was not written`} ` +
      `(ONNX opset ${report.opset}, IR ${report.irVersion}, ` +
      `${size(report.onnxBytes)}${external}, ${count(report.items)} items, top-${report.topK}) in ${report.exportSeconds.toFixed(2)}s. ` +
      `Parity against the tfjs model (\`${report.backend}\` backend) on ${count(p.sequences)} sequences ` +
      `(${count(p.realSequences)} real validation histories, ${p.edgeSequences} edge cases, ${count(p.randomSequences)} random) took ${p.seconds.toFixed(1)}s.`,
    "",
    table(["check", "measured", "required", ""], rows),
    "",
    `Differences are the worst over onnxruntime with graph optimisation "all" and "disabled". Ties: where the two top-10 lists name different items, ` +
      `that position still agrees when the tfjs scores of the two items are within ${sci(p.tieTolerance)} (twice the allowed |Δ|).`,
    "",
    table(
      ["tensor", "type", "shape"],
      [
        ...report.inputs.map((v) => [`input \`${v.name}\``, v.type, `[${v.dims.join(", ")}]`]),
        ...report.outputs.map((v) => [`output \`${v.name}\``, v.type, `[${v.dims.join(", ")}]`]),
      ],
    ),
  ];
  if (p.failures.length > 0) parts.push("", "**Failures**", "", ...p.failures.map((f) => `- ${f}`));
  if (p.examples.length > 0) {
    parts.push(
      "",
      "Disagreeing top-10 lists (first few; dense item ids):",
      "",
      ...p.examples.map((e) => `- sequence ${e.sequence}: tfjs ${e.expected.join(" ")} / onnxruntime ${e.actual.join(" ")}`),
    );
  }
  if (report.warnings.length > 0) parts.push("", "**Warnings**", "", ...report.warnings.map((w) => `- ${w}`));
  return `${parts.join("\n")}\n`;
}
