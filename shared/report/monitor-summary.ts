import type { CheckResult, VariantResult } from "../canary/judge.js";
import type { MonitorReport } from "../canary/report.js";
import type { Decision } from "../canary/types.js";
import { table } from "./markdown.js";
import { evidence, evidenceLegend } from "../canary/judge-wording.js";

const VERDICT: Record<MonitorReport["verdict"], string> = {
  promoted: "✅ promoted",
  rolled_back: "⛔ rolled back",
  inconclusive: "⏸️ held for a human (inconclusive)",
};

const DECISION: Record<Decision, string> = {
  pass: "✅ pass",
  fail: "❌ fail",
  inconclusive: "… inconclusive",
  skipped: "– skipped",
};

/** A side's value over the data judged, with its sample count, in the check's unit. */
export function value(check: Pick<CheckResult, "kind" | "quantile">, v: VariantResult): string {
  const x = v.cumulativeValue;
  if (x === null) return `no data (${v.cumulativeSamples})`;
  const n = v.cumulativeSamples.toFixed(0);
  switch (check.kind) {
    case "proportion":
      return `${(x * 100).toFixed(2)}% of ${n}`;
    case "histogram":
      return `p${Math.round((check.quantile ?? 0.99) * 100)} ${(x * 1000).toFixed(2)} ms (${n})`;
    case "drift":
      return `median ${x.toPrecision(3)} (${n})`;
    case "series":
      return `median ${x.toPrecision(3)} (${n} points)`;
  }
}

function num(v: number | null, digits = 3): string {
  return v === null ? "–" : Number(v.toPrecision(digits)).toString();
}

type Shown = Pick<CheckResult, "kind" | "effect" | "marginKind" | "margin" | "direction" | "hodgesLehmann" | "statistic" | "statisticName">;

/** The effect with its always-valid interval, in the check's unit. */
export function effect(c: Shown): string {
  const e = c.effect;
  if (e.estimate === null) return "–";
  if (c.kind === "proportion" && c.marginKind === "absolute") {
    const pp = (v: number | null) => (v === null ? "–" : `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)}`);
    return `${pp(e.estimate)} pp [${pp(e.lower)}, ${pp(e.upper)}]`;
  }
  if (c.kind === "proportion") return `×${num(e.estimate)} [${num(e.lower)}, ${num(e.upper)}]`;
  if (c.kind === "drift") return `PSI ${num(e.estimate)}`;
  return `HL ×${num(c.hodgesLehmann ?? null)}; P−½ ${num(e.estimate, 2)} [${num(e.lower, 2)}, ${num(e.upper, 2)}]`;
}

/** The margin (or PSI threshold) as the effect column states it. */
export function margin(c: Shown): string {
  if (c.kind === "drift") return `PSI ≤ ${c.margin}`;
  if (c.kind === "proportion" && c.marginKind === "absolute")
    return `${c.direction === "lower" ? "+" : "−"}${(c.margin * 100).toFixed(2)} pp`;
  return `${c.direction === "lower" ? "+" : "−"}${(c.margin * 100).toFixed(0)}%`;
}

/** The test statistic, by its short name ("z 2.1", "PSI 0.04"). */
export function statistic(c: Shown): string {
  return c.statistic === null ? "–" : `${c.statisticName.split(" ")[0]} ${num(c.statistic)}`;
}

/** The checks at the last look; the evidence columns read the one-sided p-values against α (see evidenceLegend). */
function checksTable(checks: readonly CheckResult[], alpha: number): string {
  return table(
    [
      "check",
      "critical",
      "canary",
      "stable",
      "effect [always-valid interval]",
      "margin",
      "statistic",
      "evidence canary is worse",
      "evidence within margin",
      "decision",
    ],
    checks.map((c) => [
      c.name,
      c.critical ? "yes" : "no",
      value(c, c.canary),
      value(c, c.stable),
      effect(c),
      margin(c),
      statistic(c),
      evidence(c.pAdjusted ?? c.pValue, alpha),
      c.kind === "drift" ? "–" : evidence(c.pBetter, alpha),
      DECISION[c.decision],
    ]),
  );
}

/** The checks at the last look, with the legend of the evidence columns. */
function checksSection(report: MonitorReport): string[] {
  const alpha = 1 - report.settings.confidence;
  return [
    "### Checks at the last look",
    "",
    ...(report.checks.length
      ? [checksTable(report.checks, alpha), "", `<sub>${evidenceLegend(alpha)}</sub>`]
      : ["_No interval was measured._"]),
    "",
  ];
}

/**
 * The verdict and why, as Markdown for the job summary, the PR or commit comment and the CLI:
 * the verdict and its reason, every check at the last look, the steps interval by interval,
 * and (folded) every check's explanation with the PromQL actually run.
 */
export function monitorMarkdown(report: MonitorReport, options: { runUrl?: string; maxChars?: number } = {}): string {
  const head = [
    `## recship monitor-canary: ${VERDICT[report.verdict]}${report.mode === "observe" ? " (observe mode: nothing was changed)" : ""}`,
    "",
    `> ${report.reason}`,
    "",
    `Canary \`${report.canary.version}\` against stable \`${report.stable.version}\` · ${report.source.description} · ` +
      `steps ${report.settings.steps.join(" → ")} % · ${report.settings.intervalSeconds} s intervals · ${(report.settings.confidence * 100).toFixed(0)} % confidence · ` +
      `failure limit ${report.settings.failureLimit} · canary now at ${report.finalWeight} %` +
      (options.runUrl ? ` · [run](${options.runUrl})` : ""),
    "",
  ];
  if (report.warnings.length) head.push(...report.warnings.map((w) => `> ⚠️ ${w}`), "");
  const body = checksSection(report);
  const intervals = report.steps.flatMap((s) => s.intervals);
  const names = report.checks.map((c) => c.name);
  if (intervals.length) {
    body.push(
      "### Steps",
      "",
      table(
        ["#", "weight", "seconds", ...names, "then"],
        intervals.map((iv) => [
          iv.index + 1,
          `${iv.weight}%`,
          iv.window.seconds.toFixed(0),
          ...names.map((n) => {
            if (iv.status !== "measured") return "⚠️ source down";
            const c = iv.checks.find((x) => x.name === n);
            return c ? (c.noData ? "∅ no data" : DECISION[c.decision]) : "";
          }),
          `${iv.action}: ${iv.message}`,
        ]),
      ),
      "",
    );
  }
  const details: string[] = [];
  for (const iv of intervals) {
    details.push(`#### Interval ${iv.index + 1} at ${iv.weight} % (${iv.window.start} → ${iv.window.end})`, "");
    if (iv.status !== "measured") {
      details.push(`⚠️ ${iv.message}`, "");
      continue;
    }
    for (const c of iv.checks) {
      details.push(
        `- **${c.name}** ${DECISION[c.decision]}: ${c.message}`,
        `  canary: ${c.canary.detail}; stable: ${c.stable.detail}`,
        "",
        "  ```promql",
        ...c.queries.map((q) => `  ${q}`),
        "  ```",
      );
    }
    details.push("");
  }
  const fold = (lines: string[]) => [
    "<details><summary>Why: every check, every interval, with the queries run</summary>",
    "",
    ...lines,
    "</details>",
    "",
  ];
  let text = [...head, ...body, ...fold(details)].join("\n");
  const max = options.maxChars ?? 60_000;
  if (text.length > max) {
    const keep = [...head, ...body].join("\n");
    const room = max - keep.length - 200;
    const folded = fold(details).join("\n");
    text =
      room > 1000
        ? `${keep}\n${folded.slice(0, room)}\n\n… (truncated; the JSON report has everything)\n</details>\n`
        : `${keep}\n… (details in the JSON report)\n`;
    if (text.length > max) text = `${text.slice(0, max - 40)}\n… (truncated)\n`;
  }
  return text;
}
