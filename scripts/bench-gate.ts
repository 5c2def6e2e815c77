// benchmark-gate false-alarm / power experiment. On a converted bundle and its data:
//  1. calibrates a noise level σ for the item embeddings that costs the model ~5% NDCG@10 (relative);
//  2. runs --null-runs "no-change" comparisons: two independent copies of the model with noise
//     --null-scale × σ (default 0.25: a re-export-like jitter that changes per-user rankings a
//     little and quality by ~0.3%, the same in expectation for both); every failure is a false
//     alarm (quality or latency). --null-scale 0 compares the model with an identical copy
//     (only latency can fail); --null-scale 1 compares two copies that each lost ~5% (a stress
//     test: their realised qualities differ by a few %, which the gate may rightly call real);
//  3. runs --power-runs comparisons of a copy with noise σ against the original model, where
//     every failure is a detection of the ~5% regression.
// Every comparison is a full `recship gate` run (runGate: evaluation, bootstrap, Holm, latency).
//   npx tsx scripts/bench-gate.ts --bundle <dir> --data <file> [--format seq] [--null-runs 20] [--power-runs 10]
//        [--target-drop 0.05] [--rules rules.yml] [--threads n] [--out runs/bench-gate]
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { DataFormat } from "../shared/data/readers.js";
import { perUser } from "../shared/eval/metrics.js";
import { evaluateModel } from "../shared/gate/engine.js";
import { evalDataFor, runGate } from "../shared/gate/gate.js";
import { openModelSource } from "../shared/bundle/model-source.js";
import { OnnxScorer } from "../shared/gate/onnx-scorer.js";
import { writePerturbedBundle } from "../shared/gate/perturb.js";
import type { GateReport } from "../shared/gate/report.js";
import { loadRules, topListWidth } from "../shared/gate/rules.js";
import { consoleLogger, silentLogger } from "../shared/log.js";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string" },
    data: { type: "string" },
    format: { type: "string" },
    "user-col": { type: "string" },
    "item-col": { type: "string" },
    "time-col": { type: "string" },
    rules: { type: "string" },
    "null-runs": { type: "string", default: "20" },
    "power-runs": { type: "string", default: "10" },
    "target-drop": { type: "string", default: "0.05" },
    noise: { type: "string" },
    "null-scale": { type: "string", default: "0.25" },
    threads: { type: "string" },
    out: { type: "string", default: "runs/bench-gate" },
  },
});
if (!args.bundle || !args.data) {
  console.error(
    "usage: npx tsx scripts/bench-gate.ts --bundle <dir> --data <file> [--format seq] [--null-runs 20] [--power-runs 10] [--target-drop 0.05]",
  );
  process.exit(2);
}
const bundle = resolve(args.bundle);
const dataPath = args.data;
const rules = loadRules(args.rules);
const read = {
  format: args.format as DataFormat | undefined,
  userColumn: args["user-col"],
  itemColumn: args["item-col"],
  timeColumn: args["time-col"],
};
const threads = args.threads ? Number(args.threads) : undefined;
const nullRuns = Number(args["null-runs"]);
const powerRuns = Number(args["power-runs"]);
const targetDrop = Number(args["target-drop"]);
const nullScale = Number(args["null-scale"]);
const work = mkdtempSync(join(tmpdir(), "recship-bench-gate-"));
const say = (line: string) => process.stdout.write(`${line}\n`);
const pct = (v: number) => `${v >= 0 ? "+" : ""}${(v * 100).toFixed(2)}%`;

async function main() {
  const started = performance.now();
  const source = await openModelSource(bundle);
  const data = await evalDataFor(source, { data: dataPath, read, rules, log: consoleLogger() });
  const topWidth = topListWidth(rules);

  const ndcgOf = async (dir: string) => {
    const s = await openModelSource(dir);
    const scorer = await OnnxScorer.open(s.modelPath, { numItems: s.manifest.vocabulary.items, maxlen: s.maxlen, threads });
    try {
      const ev = await evaluateModel(scorer, s.itemIds, data, { topWidth });
      const v = perUser(ev.ranksFull, "ndcg", 10);
      return { ndcg: v.reduce((a, b) => a + b, 0) / v.length, seconds: ev.seconds };
    } finally {
      await scorer.release();
    }
  };
  let copies = 0;
  const perturbed = async (noise: number, seed: string) => {
    const dir = join(work, `copy-${++copies}`);
    await writePerturbedBundle(bundle, dir, { noise, seed });
    return dir;
  };

  const original = await ndcgOf(bundle);
  say(
    `original model: NDCG@10 ${original.ndcg.toFixed(5)} over ${data.cases.length} test users (evaluated in ${original.seconds.toFixed(2)} s)`,
  );

  // 1. calibration: noise level whose mean NDCG@10 drop (two seeds) is the target
  const dropAt = async (noise: number) => {
    let total = 0;
    for (const seed of ["calibration-a", "calibration-b"]) {
      const dir = await perturbed(noise, seed);
      total += 1 - (await ndcgOf(dir)).ndcg / original.ndcg;
      rmSync(dir, { recursive: true, force: true });
    }
    const drop = total / 2;
    say(`  noise ${noise.toPrecision(3)} × rms(item_emb): NDCG@10 ${pct(-drop)}`);
    return drop;
  };
  let noise = args.noise ? Number(args.noise) : NaN;
  let measuredDrop = NaN;
  if (!Number.isFinite(noise)) {
    say(`calibrating the item-embedding noise for a ${(targetDrop * 100).toFixed(1)}% NDCG@10 drop`);
    let lo = 0;
    let hi = 0.05;
    let dropHi = await dropAt(hi);
    while (dropHi < targetDrop && hi < 64) {
      lo = hi;
      hi *= 2;
      dropHi = await dropAt(hi);
    }
    noise = hi;
    measuredDrop = dropHi;
    for (let i = 0; i < 7 && Math.abs(measuredDrop - targetDrop) > 0.1 * targetDrop; i++) {
      const mid = lo > 0 ? Math.sqrt(lo * hi) : hi / 2;
      const d = await dropAt(mid);
      if (d < targetDrop) lo = mid;
      else hi = mid;
      if (Math.abs(d - targetDrop) < Math.abs(measuredDrop - targetDrop)) {
        noise = mid;
        measuredDrop = d;
      }
    }
    say(`noise level: ${noise.toPrecision(3)} (calibration drop ${pct(-measuredDrop)})`);
  }

  interface Run {
    kind: "no-change" | "degraded";
    index: number;
    passed: boolean;
    ndcgDelta: number;
    ndcgCi: [number, number];
    failures: string[];
    warnings: number;
    qualityFailure: boolean;
    latencyFailure: boolean;
    seconds: number;
  }
  const runs: Run[] = [];
  const record = (kind: Run["kind"], index: number, report: GateReport, seconds: number) => {
    const ndcg = report.metrics.find((m) => m.name === "ndcg@10")!;
    const run: Run = {
      kind,
      index,
      passed: report.passed,
      ndcgDelta: ndcg.relDelta,
      ndcgCi: [ndcg.ciLow, ndcg.ciHigh],
      failures: report.failures,
      warnings: report.warnings.length,
      qualityFailure: report.metrics.some((m) => m.status === "fail"),
      latencyFailure: report.latency.tests.some((t) => t.status === "fail"),
      seconds,
    };
    runs.push(run);
    say(
      `${kind.padEnd(9)} #${String(index).padStart(2)}: ${run.passed ? "pass" : "FAIL"}  NDCG@10 ${pct(run.ndcgDelta)} [${pct(run.ndcgCi[0])}, ${pct(run.ndcgCi[1])}]` +
        `${run.failures.length ? `  ← ${run.failures.map((f) => f.split(":")[0].replace(/^latency at batch/, "latency@")).join(", ")}` : ""}  (${seconds.toFixed(1)} s)`,
    );
  };
  const gate = async (candidate: string, baseline: string, seed: number) => {
    const t0 = performance.now();
    const { report } = await runGate({ candidate, baseline, data: dataPath, read, rules: { ...rules, seed }, threads, log: silentLogger });
    return { report, seconds: (performance.now() - t0) / 1000 };
  };

  const nullNoise = nullScale * noise;
  say(
    `\n${nullRuns} no-change comparisons (${nullNoise > 0 ? `two independent copies with noise ${nullNoise.toPrecision(3)} × rms, ${nullScale} σ` : "the model against an identical copy"})`,
  );
  const copy = async (seed: string) => {
    if (nullNoise > 0) return perturbed(nullNoise, seed);
    const dir = join(work, `copy-${++copies}`);
    cpSync(bundle, dir, { recursive: true });
    return dir;
  };
  for (let i = 1; i <= nullRuns; i++) {
    const a = await copy(`null-a-${i}`);
    const b = await copy(`null-b-${i}`);
    const { report, seconds } = await gate(b, a, rules.seed + i);
    record("no-change", i, report, seconds);
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
  say(`\n${powerRuns} comparisons of a degraded copy against the original`);
  for (let i = 1; i <= powerRuns; i++) {
    const c = await perturbed(noise, `degraded-${i}`);
    const { report, seconds } = await gate(c, bundle, rules.seed + 1000 + i);
    record("degraded", i, report, seconds);
    rmSync(c, { recursive: true, force: true });
  }

  const nulls = runs.filter((r) => r.kind === "no-change");
  const degraded = runs.filter((r) => r.kind === "degraded");
  const falseAlarms = nulls.filter((r) => !r.passed);
  const detections = degraded.filter((r) => !r.passed);
  const meanDrop = degraded.reduce((a, r) => a + r.ndcgDelta, 0) / Math.max(1, degraded.length);
  const summary = {
    bundle,
    data: dataPath,
    testUsers: data.cases.length,
    originalNdcg10: original.ndcg,
    noise,
    nullNoise,
    calibrationDrop: measuredDrop,
    meanDegradedNdcg10Change: meanDrop,
    rules: { alpha: rules.alpha, resamples: rules.resamples, metrics: rules.metrics, latency: rules.latency },
    noChange: {
      runs: nulls.length,
      falseAlarms: falseAlarms.length,
      quality: falseAlarms.filter((r) => r.qualityFailure).length,
      latency: falseAlarms.filter((r) => r.latencyFailure).length,
    },
    degraded: { runs: degraded.length, detected: detections.length, byQuality: detections.filter((r) => r.qualityFailure).length },
    wallSeconds: (performance.now() - started) / 1000,
    runs,
  };
  say(
    `\nfalse alarms: ${falseAlarms.length}/${nulls.length} no-change comparisons failed (quality ${summary.noChange.quality}, latency ${summary.noChange.latency})` +
      `\ndetections:   ${detections.length}/${degraded.length} degraded candidates failed (${summary.degraded.byQuality} on quality; mean NDCG@10 change ${pct(meanDrop)})` +
      `\nin ${(summary.wallSeconds / 60).toFixed(1)} min`,
  );
  const out = resolve(args.out!);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "bench-gate.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const md = [
    "# benchmark-gate: false alarms and power",
    "",
    `Data \`${dataPath}\` (${data.cases.length} test users), model NDCG@10 ${original.ndcg.toFixed(5)}; degraded candidates: item-embedding noise ${noise.toPrecision(3)} × rms (${Number.isFinite(measuredDrop) ? `calibrated drop ${pct(-measuredDrop)}` : "given with --noise"}); no-change pairs: ${nullNoise > 0 ? `noise ${nullNoise.toPrecision(3)} × rms on both` : "identical copies"}.`,
    "",
    `- **False alarms: ${falseAlarms.length} / ${nulls.length}** no-change comparisons (quality ${summary.noChange.quality}, latency ${summary.noChange.latency})`,
    `- **Detections: ${detections.length} / ${degraded.length}** degraded candidates (mean NDCG@10 change ${pct(meanDrop)})`,
    "",
    "| run | verdict | NDCG@10 Δ | interval | failures |",
    "| --- | --- | ---: | --- | --- |",
    ...runs.map(
      (r) =>
        `| ${r.kind} #${r.index} | ${r.passed ? "pass" : "fail"} | ${pct(r.ndcgDelta)} | ${pct(r.ndcgCi[0])} … ${pct(r.ndcgCi[1])} | ${r.failures.map((f) => f.split(":")[0]).join(", ")} |`,
    ),
    "",
  ].join("\n");
  writeFileSync(join(out, "bench-gate.md"), md);
  say(`wrote ${join(out, "bench-gate.json")} and bench-gate.md`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
