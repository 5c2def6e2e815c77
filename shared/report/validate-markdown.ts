import type { CheckResult } from "../data/quality/checks.js";
import type { DataReport } from "../data/quality/validate-log.js";
import type { DriftFigures } from "../data/quality/profile.js";
import type { ProfileDrift } from "../data/quality/profile-drift.js";
import { details, mermaidBarChart, table } from "./markdown.js";

const ICON: Record<CheckResult["status"], string> = { pass: "✅", warn: "⚠️", error: "❌", off: "⏸️", skipped: "➖" };
const GROUPS = [
  ["schema", "Schema"],
  ["content", "Content"],
  ["drift", "Drift from the previous data"],
] as const;

function value(c: CheckResult): string {
  if (c.status === "skipped") return "–";
  return Number.isInteger(c.value) ? String(c.value) : c.value.toPrecision(3);
}

/** Where the first offenders are, `file:line value` (at most three). */
function offenders(data: string, c: CheckResult): string {
  if (c.status === "pass" || c.offenders.length === 0) return "";
  const name = data.split("/").pop();
  return c.offenders
    .slice(0, 3)
    .map((o) => `\`${name}:${o.line}\` ${o.value.replace(/`/g, "'").slice(0, 60)}`)
    .join("<br>");
}

/** The checks as a table; with the log's name, a column of their first offenders (a profile alone has none). */
function checksTable(checks: CheckResult[], data?: string): string {
  const rows = checks.map((c) => [
    `${ICON[c.status]} ${c.name}`,
    value(c),
    c.status === "skipped" ? "–" : String(c.max),
    c.message,
    ...(data === undefined ? [] : [offenders(data, c)]),
  ]);
  return table(["check", "value", "max", "what", ...(data === undefined ? [] : ["first offenders"])], rows);
}

const labels = (edges: number[]) =>
  edges.map((e, i) => (i === edges.length - 1 ? `${e}+` : edges[i + 1] - 1 === e ? String(e) : `${e}-${edges[i + 1] - 1}`));

/** Baseline vs now: the baseline's top items' shares and the history-length distribution (bars: now, line: before). */
function driftCharts(drift: DriftFigures, lengthEdges: number[]): string {
  const pct = (v: number[]) => v.map((x) => x * 100);
  return [
    mermaidBarChart({
      title: "Top items of the previous data: % of events (bars now, line before)",
      yLabel: "% of events",
      categories: drift.topShares.items.map((id) => id.slice(0, 12)),
      bars: pct(drift.topShares.after),
      lines: [pct(drift.topShares.before)],
    }),
    mermaidBarChart({
      title: "History length: % of users (bars now, line before)",
      yLabel: "% of users",
      categories: labels(lengthEdges),
      bars: pct(drift.lengthShares.after),
      lines: [pct(drift.lengthShares.before)],
    }),
  ].join("\n\n");
}

function lengthChart(report: DataReport): string {
  const total = report.profile.lengths.reduce((s, c) => s + c, 0) || 1;
  return mermaidBarChart({
    title: "History length: % of users",
    yLabel: "% of users",
    categories: labels(report.lengthEdges),
    bars: report.profile.lengths.map((c) => (c / total) * 100),
  });
}

/** validate-data's report as markdown: the verdict, a table per group of checks, and charts. */
export function validateMarkdown(report: DataReport): string {
  const icon = report.errors > 0 ? "❌" : report.warnings > 0 ? "⚠️" : "✅";
  const facts =
    `\`${report.data}\` (${report.format}${report.bytes ? `, ${(report.bytes / 2 ** 20).toFixed(1)} MiB` : ""}): ` +
    `${report.rows} interactions, ${report.users} users, ${report.items} items` +
    (report.skippedByFilter ? `, ${report.skippedByFilter} rows dropped by the event filter` : "") +
    `; checked in ${report.seconds.toFixed(1)}s` +
    (report.drift ? `. Compared with \`${report.drift.baseline}\` (${report.drift.baselineCreatedAt})` : "");
  const parts = [`## ${icon} recship validate-data: ${report.headline}`, facts];
  for (const [group, title] of GROUPS)
    parts.push(
      `### ${title}`,
      checksTable(
        report.checks.filter((c) => c.group === group),
        report.data,
      ),
    );
  const fixes = report.checks.filter((c) => c.fix && (c.status === "error" || c.status === "warn"));
  if (fixes.length) parts.push("### How to fix", fixes.map((c) => `- **${c.name}**: ${c.fix}`).join("\n"));
  parts.push("### Charts", report.drift ? driftCharts(report.drift, report.lengthEdges) : lengthChart(report));
  return `${parts.join("\n\n")}\n`;
}

/**
 * Two profiles' drift checks and charts, without offenders (there is no log to point into):
 * the body of benchmark-gate's data section.
 */
export function profileDriftMarkdown(drift: ProfileDrift): string {
  const compared = drift.checks.filter((c) => c.status !== "skipped");
  return [
    checksTable(compared),
    details("Charts: the baseline's data (line) and the candidate's (bars)", driftCharts(drift.figures, drift.lengthEdges)),
  ].join("\n\n");
}
