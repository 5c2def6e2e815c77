import { fixed } from "../report/markdown.js";
import { formatDuration } from "../util/format.js";
import { outcomeWords, STEP_TITLES, type DemoReport, type StepKey } from "./demo-report.js";

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(2)}%`;

/** The lines the demo ends with; the last one is `verdict: …`. */
export function demoSummaryLines(r: DemoReport): string[] {
  const lines = ["", `── demo summary (run ${r.run} in ${r.out})`];
  if (r.validate) {
    const v = r.validate;
    lines.push(
      `data: ${v.headline} (${v.rows} interactions, ${v.users} users, ${v.items} items; ${v.skippedByFilter} rows left out by the event filter; ` +
        `${v.drift ? "compared with the previous run's data" : "no previous data to compare with"}; ${formatDuration(v.seconds)})`,
    );
  }
  if (r.train) {
    const t = r.train;
    const lift = t.popularity.full.ndcg10 > 0 ? ` (${(t.test.full.ndcg10 / t.popularity.full.ndcg10).toFixed(1)}×)` : "";
    lines.push(
      `model quality (test, all items ranked): NDCG@10 ${fixed(t.test.full.ndcg10)} HR@10 ${fixed(t.test.full.hr10)}; ` +
        `history masked: NDCG@10 ${fixed(t.test.fullMasked?.ndcg10)} HR@10 ${fixed(t.test.fullMasked?.hr10)} ` +
        `vs popularity NDCG@10 ${fixed(t.popularity.full.ndcg10)}${lift}; ${t.epochs} epochs on ${t.backend}`,
    );
  }
  if (r.compress?.chosen) {
    const c = r.compress.chosen;
    const b = r.compress.baseline;
    lines.push(
      `compressed model: ${c.method}, ${kib(c.bytes)} (${c.sizeRatio.toFixed(2)}× fp32 ${kib(b.bytes)}), ` +
        `p50 latency batch 1 ${c.latency.batch1.p50.toFixed(2)} ms / batch 64 ${c.latency.batch64.p50.toFixed(2)} ms ` +
        `(${c.latencyRatioBatch64.toFixed(2)}× fp32), validation NDCG@10 ${signed(-c.ndcg10RelDrop)} vs fp32`,
    );
  } else if (r.compress) lines.push(`compressed model: none: ${r.compress.headline}`);
  if (r.gate) {
    const against = r.gate.baseline ? ` (baseline: ${r.gate.baseline.origin})` : "";
    lines.push(`gate: ${r.gate.headline}${against}`);
  }
  if (r.deploy) {
    const s = r.deploy.stable;
    lines.push(
      `deployed: stable ${s.version} (${s.origin === "previous-promoted" ? "the previous run's promoted model" : "this run's fp32 export"}), ` +
        `canary ${r.deploy.canary.version} (${r.deploy.canary.artifact}) behind ${r.deploy.endpoint}`,
    );
  }
  if (r.monitor) {
    const looks = r.monitor.steps.flatMap((s) => s.intervals).filter((i) => i.status === "measured").length;
    const verdict = outcomeWords(r.monitor.verdict === "inconclusive" ? "held" : r.monitor.verdict);
    lines.push(`canary: ${verdict} after ${looks} interval(s): ${r.monitor.reason}`);
    const failedInfo = r.monitor.checks.filter((c) => !c.critical && c.decision === "fail");
    if (failedInfo.length)
      lines.push(`  not critical, but worse on the canary: ${failedInfo.map((c) => `${c.name} (${c.message})`).join("; ")}`);
  }
  if (r.traffic) {
    lines.push(
      `traffic: ${r.traffic.recommendations} recommendations and ${r.traffic.feedbackEvents} click/add_to_cart events in ${formatDuration(r.traffic.seconds)}`,
    );
  }
  const steps = (Object.keys(STEP_TITLES) as StepKey[]).filter((k) => r.timings[k] !== undefined);
  lines.push(
    `elapsed: ${steps.map((k) => `${k} ${formatDuration(r.timings[k]!)}`).join(", ")}; total ${formatDuration(r.timings.total ?? NaN)}`,
  );
  lines.push(`reports: ${r.reports.json}, ${r.reports.html} (step reports: ${Object.values(r.reports.markdown).join(", ") || "none"})`);
  if (r.verdict.outcome !== "promoted") lines.push(`why: ${r.verdict.decidedBy}: ${r.verdict.reason}`);
  lines.push(
    `verdict: ${outcomeWords(r.verdict.outcome)}${r.verdict.outcome === "blocked" || r.verdict.outcome === "failed" ? ` (at ${r.verdict.decidedBy})` : ""}`,
  );
  return lines;
}
