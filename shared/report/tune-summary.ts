import type { Finalist, TrialSummary, TuneReport } from "../tune/select.js";
import { fixed, mermaidLineChart, table } from "./markdown.js";
import { escapeXml as esc, svgLineChart } from "./svg-chart.js";

const valueText = (v: string | number | boolean) => (typeof v === "number" ? String(Number(v.toPrecision(4))) : String(v));

/** A trial's settings in one line ("default" for the default configuration). */
function settingsText(t: Pick<TrialSummary, "isDefault" | "values">): string {
  const entries = Object.entries(t.values);
  if (entries.length === 0) return t.isDefault ? "default" : "(shared settings only)";
  return entries.map(([k, v]) => `${k.replace(/^(model|train)\./, "")}=${valueText(v)}`).join(" ");
}

function rungCell(t: TrialSummary, rung: number): string {
  const o = t.rungs.find((r) => r.rung === rung);
  if (!o) return "";
  const mark = o.next === "promoted" ? " ▲" : o.next === "reference" ? " ◆" : "";
  return o.status === "ok" ? `${fixed(o.metric)}${mark}` : o.status;
}

/** One row per trial: its settings, and the objective on each rung it ran (▲ promoted, ◆ carried as the reference). */
function trialTable(r: TuneReport): { header: string[]; rows: string[][] } {
  const header = ["trial", "settings", ...r.rungs.map((g) => `rung ${g.rung} (${g.epochs} ep.)`)];
  const order = [...r.trials].sort((a, b) => b.rung - a.rung || (b.metric ?? -1) - (a.metric ?? -1) || a.id.localeCompare(b.id));
  const rows = order.map((t) => [
    `${t.id}${t.id === r.best?.trial && r.done ? " (winner)" : ""}${t.isDefault ? " (default)" : ""}`,
    settingsText(t),
    ...r.rungs.map((g) => rungCell(t, g.rung)),
  ]);
  return { header, rows };
}

function finalistRows(r: TuneReport): string[][] {
  const row = (label: string, f: Finalist | undefined) =>
    f
      ? [
          `${label}: ${f.trial}`,
          f.epochsTrained !== undefined ? `${f.epochsTrained} of ${f.epochs}` : String(f.epochs),
          fixed(f.metric),
          fixed(f.valid.ndcg10),
          fixed(f.valid.maskedNdcg10),
          fixed(f.test?.ndcg10),
          fixed(f.test?.maskedNdcg10),
          fixed(f.test?.hr10),
        ]
      : [label, "–", "–", "–", "–", "–", "–", "–"];
  return [row(r.done ? "winner" : "best so far", r.best), row("default configuration", r.default)];
}

const FINALIST_HEADER = [
  "",
  "epochs",
  "objective",
  "valid NDCG@10",
  "valid masked NDCG@10",
  "test NDCG@10",
  "test masked NDCG@10",
  "test HR@10",
];

function headline(r: TuneReport): string {
  const gain =
    r.gainOverDefault === undefined
      ? ""
      : ` (${r.gainOverDefault >= 0 ? "+" : ""}${(r.gainOverDefault * 100).toFixed(1)}% over the default on the objective)`;
  if (r.done && r.best) return `Winner: **${r.best.trial}** with ${fixed(r.best.metric)}${gain}.`;
  const next = r.matrix?.include.map((m) => m.trial).join(", ") ?? "";
  return `Rung ${r.selectedRung} selected: ${next} go on to rung ${r.selectedRung + 1}.`;
}

/** The trials' objective by the epochs of each rung (the x axis), one series a trial. */
function chartSeries(r: TuneReport) {
  const ran = r.rungs.filter((g) => g.rung <= r.selectedRung);
  const x = ran.map((g) => g.epochs);
  const series = r.trials
    .filter((t) => t.rungs.some((o) => o.status === "ok"))
    .map((t) => ({
      name: t.id,
      values: ran.map((g) => t.rungs.find((o) => o.rung === g.rung)?.metric ?? Number.NaN),
      marked: ran.map((g) => t.rungs.find((o) => o.rung === g.rung)?.next !== undefined),
    }));
  return { x, series };
}

/** select's Markdown report: the job summary and the sticky pull-request comment. */
export function tuneMarkdown(r: TuneReport): string {
  const { header, rows } = trialTable(r);
  const { x, series } = chartSeries(r);
  const parts = [
    `## recship tune-model: ${r.name}`,
    "",
    headline(r),
    "",
    `Objective: ${r.objectiveLabel}. The test split is never used to choose; its figures are shown for the winner and the default only. ` +
      `Sampler ${r.sampler} (seed ${r.seed}), successive halving with eta ${r.eta}.`,
    "",
    table(FINALIST_HEADER, finalistRows(r)),
    "",
    table(header, rows),
    "",
    "▲ promoted to the next rung; ◆ the default configuration, carried on as the reference; failed: training failed; missing: no result (the trial crashed or did not run).",
  ];
  if (r.done && r.best)
    parts.push("", "train-model config of the winner:", "", "```yaml", r.best.config.trimEnd() || "# train-model's defaults", "```");
  // Mermaid draws no gaps: the lines of the trials that ran every rung so far (the HTML report's SVG has them all)
  const complete = series.filter((s) => s.values.every(Number.isFinite));
  if (x.length > 1 && complete.length > 0) {
    parts.push(
      "",
      mermaidLineChart({
        title: `Objective by budget: ${complete.map((s) => s.name).join(", ")}`,
        xLabel: "epochs",
        yLabel: "NDCG@10",
        x,
        series: complete,
      }),
    );
  }
  if (r.warnings.length > 0) parts.push("", "**Warnings**", "", ...r.warnings.map((w) => `- ${w}`));
  return `${parts.join("\n")}\n`;
}

function htmlTable(header: string[], rows: string[][]): string {
  return [
    "<table>",
    `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>`,
    ...rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`),
    "</table>",
  ].join("\n");
}

/** select's report as one self-contained HTML page: the tables and an SVG chart of the objective by budget. */
export function tuneHtml(r: TuneReport): string {
  const { header, rows } = trialTable(r);
  const { x, series } = chartSeries(r);
  const chart =
    series.length > 0
      ? svgLineChart({
          title: "Objective by budget, one line a trial",
          xLabel: "epochs (rung budget)",
          yLabel: "validation NDCG@10",
          x,
          series,
          caption: "Each line is a trial; a ringed point went on to the next rung (promoted, or the default carried as the reference).",
        })
      : "";
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<title>recship tune-model: ${esc(r.name)}</title>`,
    "<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#111827}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left}th{background:#f3f4f6}figcaption{font-size:.85rem;color:#4b5563}</style>",
    "</head>",
    "<body>",
    `<h1>recship tune-model: ${esc(r.name)}</h1>`,
    `<p>${esc(headline(r).replace(/\*\*/g, ""))}</p>`,
    `<p>Objective: ${esc(r.objectiveLabel)}. The test split is never used to choose.</p>`,
    htmlTable(FINALIST_HEADER, finalistRows(r)),
    chart,
    htmlTable(header, rows),
    `<p>▲ promoted to the next rung; ◆ the default configuration, carried on as the reference.</p>`,
    r.done && r.best ? `<pre>${esc(r.best.config || "# train-model's defaults")}</pre>` : "",
    ...r.warnings.map((w) => `<p>warning: ${esc(w)}</p>`),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
