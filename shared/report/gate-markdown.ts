import { basename } from "node:path";
import type { LatencyResult, MetricResult } from "../gate/compare.js";
import type { GateReport } from "../gate/report.js";
import type { RankingShift, ShiftedItem } from "../gate/ranking-shifts.js";
import { sampleLabel } from "../data/user-sample.js";
import { details, fixed, mermaidBarChart, table } from "./markdown.js";
import { profileDriftMarkdown } from "./validate-markdown.js";

/** GitHub rejects issue comments longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65536;

export interface GateMarkdownOptions {
  /** Link to the workflow run, shown at the end. */
  runUrl?: string;
  /** Total length allowed (default: GitHub's comment limit minus room for a marker). */
  maxChars?: number;
}

const ICON: Record<string, string> = { pass: "✅", fail: "❌", warn: "⚠️", info: "·" };

function signedPercent(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return v === Infinity ? "+∞" : v === -Infinity ? "−∞" : "–";
  const s = (v * 100).toFixed(digits);
  return `${v >= 0 ? "+" : "−"}${s.replace("-", "")}%`;
}

function interval(lo: number, hi: number): string {
  return Number.isFinite(lo) && Number.isFinite(hi) ? `${signedPercent(lo)} … ${signedPercent(hi)}` : "–";
}

function marginText(m: MetricResult): string {
  if (!m.margin) return "";
  return m.margin.kind === "relative" ? `${(m.margin.value * 100).toFixed(1)}%` : `±${m.margin.value}`;
}

function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function digitsFor(metric: string): number {
  return metric.startsWith("popularity") ? 1 : 4;
}

function metricRow(m: MetricResult, withBaseline: boolean): (string | number)[] {
  const d = digitsFor(m.metric);
  const row: (string | number)[] = [`${m.critical ? "**" : ""}${m.name}${m.critical ? "**" : ""}`];
  if (withBaseline) row.push(fixed(m.baseline, d));
  row.push(fixed(m.candidate, d));
  if (withBaseline) {
    row.push(
      signedPercent(m.relDelta),
      interval(m.ciLow, m.ciHigh),
      m.gated ? `${marginText(m)}${m.critical ? "" : " (warn)"}` : "",
      `${ICON[m.status]} ${m.status}`,
    );
  }
  return row;
}

function metricsTable(rows: MetricResult[], withBaseline: boolean): string {
  const header = withBaseline ? ["metric", "baseline", "candidate", "Δ", "interval", "margin", "result"] : ["metric", "candidate"];
  return table(
    header,
    rows.map((m) => metricRow(m, withBaseline)),
  );
}

function latencyTable(report: GateReport): string {
  const l = report.latency;
  const rows = l.candidate.map((c) => {
    const b = l.baseline?.find((x) => x.batch === c.batch);
    const t: LatencyResult | undefined = l.tests.find((x) => x.batch === c.batch);
    const ms = (s: { p50: number; p95: number; p99: number } | undefined) =>
      s ? `${s.p50.toFixed(2)} / ${s.p95.toFixed(2)} / ${s.p99.toFixed(2)}` : "–";
    return [
      c.batch,
      ms(b),
      ms(c),
      t ? signedPercent(t.relDelta) : "–",
      t ? interval(t.ciLow, t.ciHigh) : "–",
      `${b ? Math.round(b.throughput) : "–"} → ${Math.round(c.throughput)}`,
      t ? `${ICON[t.status]} ${t.status}` : "·",
    ];
  });
  return table(
    ["batch", "baseline p50 / p95 / p99 ms", "candidate p50 / p95 / p99 ms", "Δ p50", "interval", "sequences/s", "result"],
    rows,
  );
}

function slicesTable(report: GateReport): string {
  const withBaseline = Boolean(report.baseline);
  const rows = report.slices
    .filter((s) => s.slice !== "all")
    .map((s) => {
      const gated = report.metrics.filter((m) => m.slice === s.slice && m.gated);
      const status = gated.some((m) => m.status === "fail")
        ? "fail"
        : gated.some((m) => m.status === "warn")
          ? "warn"
          : gated.length
            ? "pass"
            : "info";
      const cell = (k: string) => {
        const c = s.candidate[k];
        const b = s.baseline?.[k];
        return withBaseline && b !== undefined ? `${fixed(b)} → ${fixed(c)} (${signedPercent(b ? c / b - 1 : 0)})` : fixed(c);
      };
      return [
        s.label,
        s.users,
        s.users ? cell("ndcg@10") : "–",
        s.users ? cell("hr@10") : "–",
        s.users ? cell("mrr") : "–",
        `${ICON[status]} ${status}`,
      ];
    });
  return table(
    ["slice", "users", withBaseline ? "NDCG@10 (baseline → candidate)" : "NDCG@10", withBaseline ? "HR@10" : "HR@10", "MRR", "result"],
    rows,
  );
}

interface Section {
  full: string;
  /** Shorter stand-in when the whole does not fit (empty: drop). */
  short: string;
  /** Lower is dropped/shortened first. */
  priority: number;
}

const section = (priority: number, full: string, short = ""): Section => ({ full, short, priority });

/** The verdict, the regressions and the warnings. */
function verdictSections(report: GateReport): Section[] {
  const icon = report.verdict === "fail" ? "❌" : report.verdict === "no-baseline" ? "🆕" : "✅";
  const title = report.verdict === "fail" ? "failed" : report.verdict === "no-baseline" ? "passed (no baseline yet)" : "passed";
  const out = [
    section(
      100,
      `## ${icon} recship benchmark-gate: ${title}${report.modelName !== "default" ? ` (${report.modelName})` : ""}\n\n**${report.headline}**`,
    ),
  ];
  if (report.failures.length)
    out.push(
      section(
        95,
        `**Regressions (critical):**\n${report.failures.map((f) => `- ❌ ${f}`).join("\n")}`,
        `**Regressions (critical):** ${report.failures.length}, first: ${report.failures[0]}`,
      ),
    );
  if (report.warnings.length)
    out.push(
      section(60, `**Warnings:**\n${report.warnings.map((f) => `- ⚠️ ${f}`).join("\n")}`, `**Warnings:** ${report.warnings.length}`),
    );
  return out;
}

/** Whether the gate evaluated a seeded sample of the test users (the `eval-users` option). */
const sampled = (d: GateReport["data"]) => d.testUsers < d.eligibleUsers;

/** "10,000 of 1,234,567 test users (seeded sample, seed 42)", or "1,234,567 test users". */
function testUsersText(report: GateReport): string {
  const d = report.data;
  return `${sampleLabel(d.testUsers, d.eligibleUsers)} test users${sampled(d) ? ` (seeded sample, seed ${report.rules.seed})` : ""}`;
}

/** Which models were compared, on what data, by which protocol. */
function factsSection(report: GateReport): Section {
  const c = report.candidate;
  const b = report.baseline;
  const label = (m: GateReport["candidate"]) =>
    `\`${basename(m.model)}\`${m.artifact === "onnx" ? "" : ` (${m.artifact})`} ${m.sha256.slice(0, 12)}`;
  const facts = [
    `Candidate ${label(c)} (${bytes(c.bytesOnDisk)}${c.commit ? `, commit ${c.commit.slice(0, 7)}` : ""})`,
    b
      ? `baseline ${label(b)} (${bytes(b.bytesOnDisk)}${b.commit ? `, commit ${b.commit.slice(0, 7)}` : ""}${b.savedAt ? `, stored ${b.savedAt.slice(0, 10)}` : ""}; from ${b.origin})`
      : "no baseline",
  ];
  const d = report.data;
  const protocol = `leave-one-out${d.kCore ? `, ${d.kCore}-core` : ""}; full ranking ${d.excludeSeen ? "excluding seen items" : "over all items"}; sampled: ${d.sampledNegatives} negatives; fingerprint \`${d.fingerprint.slice(0, 12)}\``;
  return section(
    90,
    `${facts.join(" vs ")}. Data: \`${d.source}\`, ${testUsersText(report)}, ${d.items.toLocaleString("en-US")} items (${protocol}).`,
  );
}

/** The headline metrics with their intervals, all metrics folded, and the slices. */
function qualitySections(report: GateReport, withBaseline: boolean): Section[] {
  const gated = report.metrics.filter((m) => m.gated);
  const headline = report.metrics.filter(
    (m) =>
      m.slice === "all" &&
      (m.gated ||
        [
          "ndcg@10",
          "hr@10",
          "mrr",
          "masked ndcg@10",
          "masked hr@10",
          "coverage@10",
          "popularity@10",
          "sampled ndcg@10",
          "sampled hr@10",
        ].includes(m.name)),
  );
  const mainRows = withBaseline ? [...gated.filter((m) => m.slice === "all"), ...headline.filter((m) => !m.gated)] : headline;
  const caption = withBaseline
    ? `Paired bootstrap over ${sampled(report.data) ? "the sampled users, so the intervals include the sampling error" : "users"} (${report.rules.resamples} resamples, seed ${report.rules.seed}); Δ is the relative change; a gated metric fails only when its whole interval lies beyond its margin, with Holm's correction (α = ${report.rules.alpha}) within the critical and within the warning-only metrics. Intervals of gated metrics are read at their Holm level, the others at 95%. **Bold**: critical.`
    : "First run: the candidate's metrics are recorded; nothing is compared.";
  const short = mainRows.filter((m) => m.gated || m.name === "ndcg@10");
  return [
    section(
      85,
      `### Quality\n\n${metricsTable(mainRows, withBaseline)}\n\n${caption}`,
      `### Quality\n\n${metricsTable(short, withBaseline)}`,
    ),
    section(30, details(`All metrics (${report.metrics.length})`, metricsTable(report.metrics, withBaseline))),
    section(50, `### Slices\n\n${slicesTable(report)}`, ""),
  ];
}

/**
 * The candidate's training data against the baseline's, only when a drift check flagged
 * something: a note beside the verdict, never a reason for it (a retrain on new data is often
 * the point), so it is dropped before the latency and the warnings when space runs out.
 */
function dataDriftSection(report: GateReport): Section | undefined {
  const d = report.dataDrift;
  if (!d || d.drifted.length === 0) return undefined;
  const side = (f: typeof d.now) =>
    `\`${basename(f.data)}\` (${f.rows.toLocaleString("en-US")} rows, ${f.users.toLocaleString("en-US")} users, ${f.items.toLocaleString("en-US")} items)`;
  const flagged = d.checks.filter((c) => d.drifted.includes(c.name));
  return section(
    58,
    `### ⚠️ Training data: drifted from the baseline's (${d.drifted.join(", ")})\n\n` +
      `The candidate was trained on ${side(d.now)}, the baseline on ${side(d.before)}; compared by their data profiles at validate-data's default drift thresholds. ` +
      `A note, not a verdict: check that the shift is meant (new data, a campaign, a catalogue change) before reading the metrics' changes as the model's.\n\n${profileDriftMarkdown(d)}`,
    `**Training data drifted from the baseline's:** ${flagged.map((c) => `${c.name} (${c.message})`).join("; ")}.`,
  );
}

/** How much the two models' top lists share. */
function rankingDiffSection(report: GateReport): Section | undefined {
  const r = report.rankingDiff;
  if (!r) return undefined;
  const histogram = details(
    "Users by shared items",
    table(
      ["shared items", "users"],
      r.overlapHistogram.map((n, i) => [i, n]),
    ),
  );
  const shifts = report.rankingShifts?.length ? `\n\n${shiftsDetails(report.rankingShifts, r.k)}` : "";
  return section(
    45,
    `### Ranking diff (top-${r.k})\n\nMean top-${r.k} overlap **${(r.meanOverlap * 100).toFixed(1)}%**, mean rank-biased overlap (p = ${r.rboP}) **${r.meanRbo.toFixed(3)}**, identical lists for ${(r.identical * 100).toFixed(1)}% of ${r.users.toLocaleString("en-US")} users.\n\n${histogram}${shifts}`,
    `### Ranking diff\n\nMean top-${r.k} overlap ${(r.meanOverlap * 100).toFixed(1)}%, mean RBO ${r.meanRbo.toFixed(3)}.`,
  );
}

/** The users whose top-k changed most: what entered and left, and the history items behind each (leave-one-out occlusion). */
function shiftsDetails(shifts: readonly RankingShift[], k: number): string {
  const item = (x: ShiftedItem | undefined) =>
    x
      ? `\`${x.item}\` (#${x.rank}) ← ${x.because.map((c) => `\`${c.item}\` ${c.contribution >= 0 ? "+" : "−"}${Math.abs(c.contribution).toFixed(2)}`).join(", ") || "–"}`
      : "–";
  return details(
    `Why the top ${k} changed most for ${shifts.length} user${shifts.length > 1 ? "s" : ""}`,
    `${table(
      ["test user", "history", "shared", "entered the candidate's list ← because of", "left the baseline's list ← because of"],
      shifts.map((s) => [s.testUser, s.historyLength, `${s.shared}/${k}`, item(s.entered), item(s.left)]),
    )}\n\nEach item with the history items that drove it in the model that ranks it, and the score each one adds (leave-one-out occlusion: the score lost when that item is left out of the history).`,
  );
}

function latencySection(report: GateReport, withBaseline: boolean): Section | undefined {
  if (!report.latency.candidate.length) return undefined;
  const l = report.latency;
  return section(
    70,
    `### Latency\n\n${latencyTable(report)}\n\n${l.repetitions} timed runs per batch size after ${l.warmup} warm-up runs, ${withBaseline ? "the two models taking turns; " : ""}a batch size fails when Mann-Whitney shows the candidate slower than the baseline by more than ${(report.rules.latency.margin * 100).toFixed(0)}% (Holm across batch sizes).`,
    `### Latency\n\n${l.tests.map((t) => `batch ${t.batch}: ${signedPercent(t.relDelta)} ${ICON[t.status]}`).join(", ") || "measured"}`,
  );
}

function sizeSection(report: GateReport): Section {
  const { size, memory } = report;
  const delta = size.relDelta !== undefined ? signedPercent(size.relDelta) : "–";
  const baselineTime = report.baseline
    ? report.baseline.evaluation.reused
      ? "stored"
      : `${report.baseline.evaluation.seconds.toFixed(1)} s`
    : "–";
  const rows = [
    ["model on disk", bytes(size.baselineBytes), bytes(size.candidateBytes), delta],
    ["process peak RSS while evaluating", bytes(memory.baselinePeakRssBytes), bytes(memory.candidatePeakRssBytes), ""],
    ["evaluation time", baselineTime, `${report.candidate.evaluation.seconds.toFixed(1)} s`, ""],
  ];
  return section(
    55,
    `### Size and memory\n\n${table(["", "baseline", "candidate", "Δ"], rows)}`,
    `Model size ${bytes(size.candidateBytes)}${size.relDelta !== undefined ? ` (${signedPercent(size.relDelta)})` : ""}.`,
  );
}

/** A bar chart of the relative changes with their intervals (gated metrics first, then the full-ranking ones). */
function chartSection(report: GateReport, withBaseline: boolean): Section | undefined {
  const ranking = (m: MetricResult) => /^(ndcg|hr)@|^mrr$/.test(m.metric);
  const rows = [
    ...report.metrics.filter((m) => m.gated && m.slice === "all"),
    ...report.metrics.filter((m) => !m.gated && m.slice === "all" && m.protocol === "full" && ranking(m)),
  ]
    .filter((m) => Number.isFinite(m.relDelta) && Number.isFinite(m.ciLow) && Number.isFinite(m.ciHigh))
    .slice(0, 10);
  if (!withBaseline || !rows.length) return undefined;
  return section(
    20,
    mermaidBarChart({
      title: "Relative change vs baseline (%): bars = estimate, lines = interval",
      yLabel: "change (%)",
      categories: rows.map((m) => m.name),
      bars: rows.map((m) => m.relDelta * 100),
      lines: [rows.map((m) => m.ciLow * 100), rows.map((m) => m.ciHigh * 100)],
    }),
  );
}

/**
 * Joins the sections within `maxChars`: the least important are shortened first, then dropped
 * (priority 99 and above never), and as a last resort the text is truncated with a note.
 */
function fitSections(sections: Section[], maxChars: number): string {
  const render = () =>
    sections
      .map((s) => s.full)
      .filter(Boolean)
      .join("\n\n") + "\n";
  let text = render();
  const byPriority = [...sections].sort((a, b) => a.priority - b.priority).filter((s) => s.priority < 99);
  for (const s of byPriority) {
    if (text.length <= maxChars) break;
    s.full = s.short.length < s.full.length ? s.short : "";
    text = render();
  }
  for (const s of byPriority) {
    if (text.length <= maxChars) break;
    s.full = "";
    text = render();
  }
  if (text.length > maxChars) {
    const note = "\n\n… (report truncated to fit; the full report is in the job summary and the JSON report)\n";
    text = text.slice(0, Math.max(0, maxChars - note.length)) + note;
  }
  return text;
}

/**
 * The gate's report as Markdown, for the pull-request comment and the job summary: the
 * verdict first, then quality, slices, ranking diff, latency, size, a chart and the run
 * link. Kept under `maxChars`: the least important sections are folded to a summary line,
 * then cut, and as a last resort the text is truncated with a note.
 */
export function gateMarkdown(report: GateReport, options: GateMarkdownOptions = {}): string {
  const withBaseline = Boolean(report.baseline);
  const footer = `<sub>${options.runUrl ? `[workflow run](${options.runUrl}) · ` : ""}evaluated ${report.data.testUsers.toLocaleString("en-US")} users in ${report.evalSeconds.toFixed(1)} s · gate ${report.wallSeconds.toFixed(1)} s · recship ${report.recshipVersion}</sub>`;
  const sections = [
    ...verdictSections(report),
    factsSection(report),
    ...qualitySections(report, withBaseline),
    dataDriftSection(report),
    rankingDiffSection(report),
    latencySection(report, withBaseline),
    sizeSection(report),
    chartSection(report, withBaseline),
    report.notes.length ? section(40, report.notes.map((n) => `> ${n}`).join("\n>\n"), "") : undefined,
    section(99, footer),
  ].filter((x): x is Section => x !== undefined);
  return fitSections(sections, options.maxChars ?? GITHUB_COMMENT_LIMIT - 200);
}
