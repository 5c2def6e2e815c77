import type { CheckResult } from "../canary/judge.js";
import type { MonitorReport } from "../canary/report.js";
import { outcomeWords, STEP_TITLES, type DemoReport, type StepKey } from "./demo-report.js";
import { escapeXml as esc, svgBarChart, svgDecisionGrid, svgLineChart } from "../report/svg-chart.js";

/**
 * The demo's report as one self-contained HTML page: tables and inline SVG charts, no
 * scripts, nothing loaded from elsewhere (it opens from disk, offline, and as an artifact).
 */
export function demoHtml(r: DemoReport): string {
  const verdict = outcomeWords(r.verdict.outcome);
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<title>recship demo, run ${r.run}: ${esc(verdict)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    `<h1>recship demo, run ${r.run}: <span class="verdict ${r.verdict.outcome}">${esc(verdict)}</span></h1>`,
    `<p>${esc(r.verdict.decidedBy)}: ${esc(r.verdict.reason)}</p>`,
    `<p class="muted">${esc(r.startedAt)} to ${esc(r.endedAt)}, recship ${esc(r.recshipVersion)}, folder <code>${esc(r.out)}</code></p>`,
    overview(r),
    validateSection(r),
    trainSection(r),
    convertSection(r),
    compressSection(r),
    gateSection(r),
    explanationsSection(r),
    deploySection(r),
    monitorSection(r),
    timingSection(r),
    reportsSection(r),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

const STYLE = [
  "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#111827}",
  "table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left;vertical-align:top}",
  "th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}",
  ".verdict{padding:0 .4rem;border-radius:.3rem;color:#fff}.promoted{background:#16a34a}.rolled_back,.failed{background:#dc2626}",
  ".held,.blocked{background:#ca8a04}.muted{color:#6b7280}figure.chart{margin:1rem 0}figcaption{font-size:.85rem;color:#4b5563}",
  "section{border-top:1px solid #e5e7eb;margin-top:1.5rem}code{font-size:.85em}",
].join("\n");

type Cell = string | number | { html: string };

function cell(c: Cell): string {
  if (typeof c === "number") return `<td class="num">${esc(String(c))}</td>`;
  if (typeof c === "string") return `<td>${esc(c)}</td>`;
  return `<td>${c.html}</td>`;
}

function table(header: string[], rows: Cell[][]): string {
  return [
    "<table>",
    `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>`,
    ...rows.map((row) => `<tr>${row.map(cell).join("")}</tr>`),
    "</table>",
  ].join("\n");
}

function section(id: string, title: string, body: string[]): string {
  return [`<section id="${id}">`, `<h2>${esc(title)}</h2>`, ...body, "</section>"].join("\n");
}

const f4 = (v: number | undefined | null) => (v === undefined || v === null || !Number.isFinite(v) ? "–" : v.toFixed(4));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const pct = (v: number, digits = 2) => (Number.isFinite(v) ? `${v >= 0 ? "+" : "−"}${Math.abs(100 * v).toFixed(digits)}%` : "–");
const secs = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(1)} s`);
const skipped = (why: string) => `<p class="muted">${esc(why)}</p>`;

function overview(r: DemoReport): string {
  const rows: Cell[][] = [
    ["data", `${r.data.rows} rows, ${r.data.users} synthetic shoppers`, secs(r.timings.shop)],
    ["validate-data", r.validate ? r.validate.headline : "not run", secs(r.timings.validate)],
    [
      "train-model",
      r.train ? `test NDCG@10 ${f4(r.train.test.full.ndcg10)} vs popularity ${f4(r.train.popularity.full.ndcg10)}` : "not run",
      secs(r.timings.train),
    ],
    ["convert-onnx", r.convert ? `parity ${r.convert.parity.passed ? "passed" : "failed"}` : "not run", secs(r.timings.convert)],
    ["compress-model", r.compress ? r.compress.headline : "not run", secs(r.timings.compress)],
    ["benchmark-gate", r.gate ? r.gate.headline : "not run", secs(r.timings.gate)],
    ["deploy", r.deploy ? `stable ${r.deploy.stable.version}, canary ${r.deploy.canary.version}` : "not run", secs(r.timings.deploy)],
    ["monitor-canary", r.monitor ? `${r.monitor.verdict}: ${r.monitor.reason}` : "not run", secs(r.timings.monitor)],
  ];
  return section("overview", "Overview", [table(["step", "result", "time"], rows)]);
}

/** The data's checks: how many passed, warned or failed, and each check's value against its max. */
function validateSection(r: DemoReport): string {
  const v = r.validate;
  if (!v) return section("validate", "validate-data", [skipped("Not run.")]);
  const count = (status: string) => v.checks.filter((c) => c.status === status).length;
  const compared = v.drift
    ? `compared with the previous run's data (${v.drift.baselineCreatedAt})`
    : "no previous data to compare with yet";
  return section("validate", "validate-data", [
    `<p><strong>${esc(v.headline)}</strong>: ${v.rows} interactions (${v.skippedByFilter} rows left out by the event filter), ${v.users} users, ${v.items} items, checked in ${v.seconds.toFixed(2)} s; ${esc(compared)}.</p>`,
    table(
      ["passed", "warned", "failed", "off", "skipped"],
      [[count("pass"), count("warn"), count("error"), count("off"), count("skipped")]],
    ),
    table(
      ["check", "group", "result", "value", "max", "what"],
      v.checks.map((c) => [c.name, c.group, c.status, c.status === "skipped" ? "–" : Number(c.value.toPrecision(3)), c.max, c.message]),
    ),
  ]);
}

function trainSection(r: DemoReport): string {
  const t = r.train;
  if (!t) return section("train", "train-model", [skipped("Not run.")]);
  const epochs = t.history.map((h) => h.epoch);
  return section("train", "train-model", [
    table(
      ["model", "NDCG@10", "HR@10", "masked NDCG@10", "masked HR@10", "MRR", "sampled-100 NDCG@10"],
      [["SASRec (test)", t.test] as const, ["popularity (test)", t.popularity] as const].map(([name, m]) => [
        name,
        f4(m.full.ndcg10),
        f4(m.full.hr10),
        f4(m.fullMasked?.ndcg10),
        f4(m.fullMasked?.hr10),
        f4(m.full.mrr),
        f4(m.sampled?.ndcg10),
      ]),
    ),
    "<p>NDCG@10, HR@10, MRR: the target ranked among all items; masked: the shopper's history masked first (the protocol of published results).</p>",
    `<p>${t.epochs} epochs (best ${t.bestEpoch}, stopped by ${esc(t.stoppedBy)}) on ${esc(t.backend)}, ${t.parameters.toLocaleString("en-US")} parameters, ${Math.round(t.sequencesPerSecond)} sequences/s, ${t.trainSeconds.toFixed(1)} s of training.</p>`,
    svgLineChart({
      title: "Training curve: validation NDCG@10 and HR@10 per epoch",
      xLabel: "epoch",
      yLabel: "validation metric",
      x: epochs,
      series: [
        { name: "NDCG@10", values: t.history.map((h) => h.valid.ndcg10) },
        { name: "HR@10", values: t.history.map((h) => h.valid.hr10) },
      ],
    }),
    svgLineChart({
      title: "Training loss per epoch",
      xLabel: "epoch",
      yLabel: "loss",
      x: epochs,
      series: [{ name: "loss", values: t.history.map((h) => h.loss) }],
    }),
  ]);
}

/** Shown of a shopper's history: the most recent purchases. */
const RECENT_SHOWN = 8;

/** Why the model recommends what it does, for a few shoppers: each recommendation with the purchases behind it. */
function explanationsSection(r: DemoReport): string {
  const e = r.explanations;
  if (!e) return section("explain", "Explanations", [skipped("No model to explain.")]);
  const rows: Cell[][] = e.shoppers.flatMap((s) =>
    s.explanations.map((x, i): Cell[] => [
      i === 0 ? `shopper ${s.shopper}` : "",
      i === 0 ? (s.history.length > RECENT_SHOWN ? "… " : "") + s.history.slice(-RECENT_SHOWN).join(", ") : "",
      `${x.item} (${x.score.toFixed(3)})`,
      x.because
        .map((c) => `${c.item} (purchase ${c.history_index + 1}, ${c.contribution >= 0 ? "+" : "−"}${Math.abs(c.contribution).toFixed(3)})`)
        .join(", "),
    ]),
  );
  return section("explain", "Explanations", [
    `<p>Why model ${esc(e.modelVersion)} recommends what it does (what <code>"explain": true</code> on /v1/recommend answers): each history item's contribution is the score the recommended item loses when that purchase is left out of the history (leave-one-out occlusion, every variant in one batched model run).</p>`,
    table(["shopper", "recent purchases (oldest first)", "recommended (score)", "because of (purchase, contribution)"], rows),
  ]);
}

function convertSection(r: DemoReport): string {
  const c = r.convert;
  if (!c) return section("convert", "convert-onnx", [skipped("Not run.")]);
  return section("convert", "convert-onnx", [
    table(
      ["ONNX model", "size", "opset", "max |Δ score|", "top-10 agreement", "parity"],
      [
        [
          c.model,
          kib(c.onnxBytes),
          c.opset,
          c.parity.maxAbsDiff.toExponential(2),
          `${(100 * c.parity.top10Agreement).toFixed(2)}%`,
          c.parity.passed ? "passed" : "failed",
        ],
      ],
    ),
  ]);
}

function compressSection(r: DemoReport): string {
  const c = r.compress;
  if (!c) return section("compress", "compress-model", [skipped("Not run.")]);
  const rows: Cell[][] = [
    [
      "fp32 (export)",
      kib(c.baseline.bytes),
      "1.00×",
      c.baseline.latency.batch1.p50.toFixed(3),
      c.baseline.latency.batch64.p50.toFixed(3),
      f4(c.baseline.validation.ndcg10),
      "–",
      "",
    ],
    ...c.variants.map((v): Cell[] => [
      v.chosen ? { html: `<strong>${esc(v.method)}</strong>` } : v.method,
      kib(v.bytes),
      `${v.sizeRatio.toFixed(2)}×`,
      v.latency.batch1.p50.toFixed(3),
      v.latency.batch64.p50.toFixed(3),
      f4(v.validation.ndcg10),
      pct(-v.ndcg10RelDrop),
      v.verdict,
    ]),
  ];
  return section("compress", "compress-model", [
    `<p>${esc(c.headline.replace(/([^.!])$/, "$1."))} Budget: at most ${(100 * c.budget.maxNdcgDrop).toFixed(1)}% lower validation NDCG@10; objective ${esc(c.budget.objective)}.</p>`,
    table(["variant", "size", "× fp32", "batch-1 p50 ms", "batch-64 p50 ms", "val NDCG@10", "Δ vs fp32", "verdict"], rows),
    svgBarChart({
      title: "Model size per variant (KiB; the chosen one highlighted)",
      yLabel: "KiB",
      bars: [
        { label: "fp32", value: c.baseline.bytes / 1024 },
        ...c.variants.map((v) => ({ label: v.method, value: v.bytes / 1024, highlight: v.chosen })),
      ],
    }),
  ]);
}

function gateSection(r: DemoReport): string {
  const g = r.gate;
  if (!g) return section("gate", "benchmark-gate", [skipped("Not run (an earlier step stopped the chain).")]);
  const baseline = g.baseline ? `Baseline: ${g.baseline.origin}.` : "No stored baseline yet: this run passes as a first run and is stored.";
  const saved = g.saved ? (g.saved.saved ? ` Stored as the next baseline (${g.saved.key}).` : ` Not stored: ${g.saved.reason}.`) : "";
  const metrics = g.metrics.filter((m) => m.slice === "all");
  return section("gate", "benchmark-gate", [
    `<p><strong>${esc(g.verdict)}</strong>: ${esc(g.headline)}</p>`,
    `<p>${esc(baseline + saved)}</p>`,
    table(
      ["metric", "baseline", "candidate", "Δ", "interval", "status"],
      metrics.map((m) => [
        m.name,
        f4(m.baseline),
        f4(m.candidate),
        pct(m.relDelta),
        Number.isFinite(m.ciLow) ? `${pct(m.ciLow)} to ${pct(m.ciHigh)}` : "–",
        m.status,
      ]),
    ),
    ...g.notes.map((n) => `<p class="muted">${esc(n)}</p>`),
  ]);
}

function deploySection(r: DemoReport): string {
  const d = r.deploy;
  if (!d) return section("deploy", "deploy (local target)", [skipped("Not run (an earlier step stopped the chain).")]);
  const origin = d.stable.origin === "previous-promoted" ? "the previous run's promoted model" : "this run's fp32 export";
  return section("deploy", "deploy (local target)", [
    `<p>Router <code>${esc(d.endpoint)}</code>; state <code>${esc(d.state)}</code>. Every process stopped at the end: ${d.allStopped === undefined ? "unknown" : d.allStopped ? "yes" : "no"}.</p>`,
    table(
      ["variant", "model version", "what", "bundle", "endpoint"],
      [
        ["stable", d.stable.version, origin, d.stable.bundle, d.stable.endpoint],
        ["canary", d.canary.version, `this run's ${d.canary.artifact} at ${d.canary.weight}%`, d.canary.bundle, d.canary.endpoint],
      ],
    ),
    table(
      ["process", "pid", "port", "version"],
      d.processes.map((p) => [p.role, p.pid, p.port, p.version ?? ""]),
    ),
  ]);
}

const DECISION_COLORS: Record<string, string> = { pass: "#16a34a", fail: "#dc2626", inconclusive: "#ca8a04", skipped: "#9ca3af" };

function checkValue(c: CheckResult, side: "canary" | "stable"): string {
  const v = c[side];
  const x = v.cumulativeValue;
  if (x === null) return `no data (${v.cumulativeSamples})`;
  if (c.kind === "proportion") return `${(100 * x).toFixed(2)}% of ${v.cumulativeSamples}`;
  if (c.kind === "histogram") return `p${Math.round(100 * (c.quantile ?? 0.99))} ${(1000 * x).toFixed(2)} ms (${v.cumulativeSamples})`;
  return `${x.toPrecision(3)} (${v.cumulativeSamples})`;
}

function intervalCharts(m: MonitorReport): string[] {
  const intervals = m.steps.flatMap((s) => s.intervals);
  if (!intervals.length) return [skipped("No interval was measured.")];
  const labels = intervals.map((i) => String(i.index + 1));
  const names = [...new Set(intervals.flatMap((i) => i.checks.map((c) => c.name)))];
  return [
    svgBarChart({
      title: "Canary weight per analysis interval (%), and after the verdict",
      yLabel: "canary weight %",
      yMax: 100,
      bars: [
        ...intervals.map((i) => ({ label: `#${i.index + 1}`, value: i.weight, text: `${i.weight}% ${i.action}` })),
        { label: "end", value: m.finalWeight, text: `${m.finalWeight}% ${m.verdict}`, highlight: true },
      ],
    }),
    svgDecisionGrid({
      title: "Check decisions per analysis interval (columns: interval number)",
      rows: names,
      columns: labels,
      cells: names.map((n) => intervals.map((i) => i.checks.find((c) => c.name === n)?.decision)),
      colors: DECISION_COLORS,
    }),
    table(
      ["interval", "weight", "window", "action", "why"],
      intervals.map((i) => [i.index + 1, `${i.weight}%`, `${i.window.seconds.toFixed(1)} s`, i.action, i.message]),
    ),
  ];
}

function monitorSection(r: DemoReport): string {
  const m = r.monitor;
  if (!m) return section("monitor", "shoppers + monitor-canary", [skipped("Not run (an earlier step stopped the chain).")]);
  const t = r.traffic;
  return section("monitor", "shoppers + monitor-canary", [
    `<p><strong>${esc(m.verdict)}</strong>: ${esc(m.reason)}</p>`,
    `<p>Source: ${esc(m.source.description)}. Steps ${m.settings.steps.join(", ")} %, ${m.settings.intervalSeconds} s intervals, confidence ${m.settings.confidence}.</p>`,
    t
      ? `<p>Simulated shoppers: ${t.recommendations} recommendations (${t.ratePerSecond}/s) and ${t.feedbackEvents} click / add_to_cart events in ${t.seconds.toFixed(1)} s, after ${t.warmUpRequests.stable} warm-up requests per server.</p>`
      : "",
    ...intervalCharts(m),
    table(
      ["check", "critical", "canary", "stable", "decision", "why"],
      m.checks.map((c) => [c.name, c.critical ? "yes" : "no", checkValue(c, "canary"), checkValue(c, "stable"), c.decision, c.message]),
    ),
  ]);
}

function timingSection(r: DemoReport): string {
  const steps = (Object.keys(STEP_TITLES) as StepKey[]).filter((k) => r.timings[k] !== undefined);
  return section("timings", "Time per step", [
    svgBarChart({
      title: "Elapsed seconds per step",
      yLabel: "seconds",
      bars: steps.map((k) => ({ label: k, value: r.timings[k]!, text: r.timings[k]!.toFixed(1) })),
    }),
    table(
      ["step", "seconds"],
      [...steps.map((k): Cell[] => [STEP_TITLES[k], r.timings[k]!.toFixed(1)]), ["total", (r.timings.total ?? NaN).toFixed(1)]],
    ),
  ]);
}

function reportsSection(r: DemoReport): string {
  const rows: Cell[][] = [
    ["demo (JSON)", { html: `<code>${esc(r.reports.json)}</code>` }],
    ["demo (this page)", { html: `<code>${esc(r.reports.html)}</code>` }],
    ...Object.entries(r.reports.markdown).map(([step, path]): Cell[] => [`${step} (Markdown)`, { html: `<code>${esc(path)}</code>` }]),
  ];
  return section("reports", "Reports", [
    table(["report", "file"], rows),
    ...r.warnings.map((w) => `<p class="muted">warning: ${esc(w)}</p>`),
    r.error ? `<p><strong>error:</strong> ${esc(r.error)}</p>` : "",
  ]);
}
