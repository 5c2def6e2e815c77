import { evidence, evidenceLegend } from "../canary/judge-wording.js";
import type { WatchCheckResult, WatchReport, WatchStatus } from "../canary/watch-decision.js";
import { watchSides, windowName } from "../canary/watch-decision.js";
import { table } from "./markdown.js";
import { effect, margin, statistic, value } from "./monitor-summary.js";

const STATUS: Record<WatchStatus, string> = {
  drift: "⚠️ drift in production",
  healthy: "✅ healthy",
  inconclusive: "… inconclusive (nothing changed)",
};

/** A check's outcome in the window, in words: breached, holds, no breach shown, or why it was not judged. */
function outcome(c: WatchCheckResult): string {
  if (c.decision === "fail") return c.critical ? "⚠️ breached" : "⚠️ worse (not critical: shown only)";
  if (c.decision === "pass") return "✅ holds";
  if (c.decision === "skipped") return "– skipped";
  if (c.judged) return "✅ no breach shown";
  return c.noData ? "∅ no data" : "… too little data to tell";
}

const utc = (iso: string) => iso.replace("T", " ").replace(/\.000Z$|Z$/, " UTC");

/** Every check of the window, the canary's columns with the watch's names for the two sides. */
function checksTable(report: WatchReport): string {
  const alpha = 1 - report.settings.confidence;
  const name = windowName(report.settings.windowSeconds);
  return table(
    [
      "check",
      "critical",
      "compared with",
      `last ${name}`,
      "baseline",
      "effect [always-valid interval]",
      "margin",
      "statistic",
      `evidence last ${name} is worse`,
      "evidence within margin",
      "outcome",
    ],
    report.checks.map((c) => [
      c.name,
      c.critical ? "yes" : "no",
      watchSides(c, report.settings.windowSeconds).baseline,
      value(c, c.last),
      value(c, c.baseline),
      effect(c),
      margin(c),
      statistic(c),
      evidence(c.pAdjusted ?? c.pValue, alpha),
      c.kind === "drift" ? "–" : evidence(c.pBetter, alpha),
      outcome(c),
    ]),
  );
}

/** The legend: the evidence columns as in the canary's report, plus what a PSI is. */
function legend(report: WatchReport): string {
  const name = windowName(report.settings.windowSeconds);
  return (
    `<sub>${evidenceLegend(1 - report.settings.confidence, { subject: `last ${name}`, baseline: "its baseline" })} ` +
    `PSI (population stability index) says how far two distributions lie apart: 0 the same, 0.1 a small shift, 0.25 a large one; ` +
    `"validation" is what the model recommended to its validation users when it was trained (its monitoring reference). ` +
    `A check that is not critical is shown and never raises drift.</sub>`
  );
}

/** Each check's explanation, with the queries run and when. */
function whyDetails(report: WatchReport): string[] {
  const lines: string[] = [];
  const name = windowName(report.settings.windowSeconds);
  const promql = (queries: string[]) => (queries.length ? ["  ```promql", ...queries.map((q) => `  ${q}`), "  ```"] : []);
  for (const c of report.checks) {
    const reference = c.against === "reference";
    lines.push(
      `- **${c.name}** ${outcome(c)}: ${c.message}`,
      `  last ${name}: ${c.last.detail}; ${watchSides(c, report.settings.windowSeconds).baseline}: ${c.baseline.detail}`,
      "",
      `  The last ${name}'s queries, at ${utc(report.window.end)}:`,
      ...promql(c.lastQueries),
      reference
        ? `  The validation reference the servers of this version export, at ${utc(report.window.end)}:`
        : `  The previous ${name}'s: the same queries at ${utc(report.previousWindow.end)}.`,
      ...(reference ? promql(c.baselineQueries) : []),
      "",
    );
  }
  return lines;
}

/** PromQL to follow the watched quantities in Prometheus. */
function followSection(report: WatchReport): string[] {
  if (!report.follow.length) return [];
  const lines = ["### PromQL to follow it", ""];
  for (const f of report.follow) lines.push(`- **${f.name}**: ${f.what}`, "", "  ```promql", `  ${f.query}`, "  ```", "");
  return lines;
}

/**
 * The drift watch's report as Markdown: the job summary, the CLI's output and the body of the
 * watch's issue. The status and why, every check of the window (the canary report's columns),
 * the PromQL to follow it, and (folded) each check's explanation with the queries run.
 */
export function watchMarkdown(report: WatchReport, options: { runUrl?: string; maxChars?: number; history?: string } = {}): string {
  const name = windowName(report.settings.windowSeconds);
  const from = { given: "as given", target: "from the deploy target", prometheus: "the stable version that answered most" };
  const version = report.stable.version ? `\`${report.stable.version}\` (variant stable; ${from[report.stable.from!]})` : "unknown";
  const head = [
    `## recship drift watch: ${STATUS[report.status]}`,
    "",
    `> ${report.reason}`,
    "",
    `Production model ${version} · last ${name} ${utc(report.window.start)} → ${utc(report.window.end)}, ` +
      `compared with the ${name} before and with validation · ${report.source.description} · ` +
      `${(report.settings.confidence * 100).toFixed(0)} % confidence` +
      (options.runUrl ? ` · [run](${options.runUrl})` : ""),
    "",
  ];
  if (options.history) head.push(options.history, "");
  if (report.warnings.length) head.push(...report.warnings.map((w) => `> ⚠️ ${w}`), "");
  const body = report.checks.length
    ? ["### Checks", "", checksTable(report), "", legend(report), "", ...followSection(report)]
    : ["_Nothing was measured._", ""];
  const details = ["<details><summary>Why: every check, with the queries run</summary>", "", ...whyDetails(report), "", "</details>", ""];
  let text = [...head, ...body, ...(report.checks.length ? details : [])].join("\n");
  const max = options.maxChars ?? 60_000;
  if (text.length > max) text = `${[...head, ...body].join("\n").slice(0, max - 60)}\n\n… (truncated; the JSON report has everything)\n`;
  return text;
}
