import { type ValidationPolicy } from "../data/quality/policy.js";
import { bundleProfile, compareProfiles, type ProfileDrift } from "../data/quality/profile-drift.js";
import { DATA_FORMATS, formatFromPath, type DataFormat, type ReadOptions } from "../data/readers.js";
import { coverage, perUser, summarize, topPopularity } from "../eval/metrics.js";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { RECSHIP_VERSION } from "../version.js";
import { openBaseline, type BaselineRecord } from "./baseline-package.js";
import { compareModels, displayMetrics, metricName, type Comparison, type MetricResult } from "./compare.js";
import { evaluateModel, mapVocabulary, modelHistories, type ModelEvaluation } from "./engine.js";
import { loadEvalData, type EvalData } from "./eval-data.js";
import { evaluationKey, readEvaluation } from "./eval-store.js";
import { measureLatency, type LatencyStats, type Servable } from "./latency.js";
import { MANIFEST_FILE } from "../bundle/manifest.js";
import { openModelSource, type ModelSource } from "../bundle/model-source.js";
import { OnnxScorer } from "./onnx-scorer.js";
import { rankingDiff } from "./ranking-diff.js";
import { rankingShifts, type RankingShift } from "./ranking-shifts.js";
import type { GateReport, ModelInfo, SliceSummary } from "./report.js";
import { parseMetric, SLICES, topListWidth, type GateRules } from "./rules.js";
import { sliceLabel, sliceMembers } from "./slices.js";
import { join } from "node:path";

export interface GateOptions {
  /** The candidate bundle folder. */
  candidate: string;
  /** Overrides the candidate's model file (else: a chosen compressed variant, else model.onnx). */
  candidateModel?: string;
  /** A baseline folder (a stored baseline or a bundle); none: first run. */
  baseline?: string;
  baselineModel?: string;
  /** Where the baseline came from, for the report ("actions cache, key ...", "--baseline path"). */
  baselineOrigin?: string;
  data: string;
  read: ReadOptions;
  /** k-core filter for the evaluation data; undefined: what the candidate was trained with. */
  kCore?: number;
  rules: GateRules;
  /** Test users to evaluate: a sample seeded by the rules' seed (0 or undefined: every test user). */
  evalUsers?: number;
  modelName?: string;
  /** onnxruntime intra-op threads. */
  threads?: number;
  batchSize?: number;
  /** Check both models' files against the sha256s their bundle.json records (default true). */
  verifyChecksums?: boolean;
  /** validate-data's policy: the thresholds of the training-data comparison (default: its defaults). */
  dataPolicy?: ValidationPolicy;
  log: Logger;
}

export interface GateOutcome {
  report: GateReport;
  data: EvalData;
  candidate: ModelSource;
  candidateEvaluation: ModelEvaluation;
}

interface OpenedModel {
  source: ModelSource;
  scorer: OnnxScorer;
  servable: Servable;
}

async function openModel(source: ModelSource, data: EvalData, options: GateOptions): Promise<OpenedModel> {
  const scorer = await OnnxScorer.open(source.modelPath, {
    numItems: source.manifest.vocabulary.items,
    maxlen: source.maxlen,
    manifest: join(source.dir, MANIFEST_FILE),
    threads: options.threads,
    batchSize: options.batchSize,
  });
  const vocab = mapVocabulary(data.itemIds, source.itemIds);
  const { histories } = modelHistories(data, vocab);
  return { source, scorer, servable: { serve: (cases) => scorer.serve(cases.map((i) => histories[i])) } };
}

function modelInfo(source: ModelSource, ev: ModelEvaluation, reused: boolean): ModelInfo {
  return {
    bundle: source.dir,
    model: source.modelPath,
    artifact: source.artifact,
    sha256: source.sha256,
    bytesOnDisk: source.bytesOnDisk,
    items: source.manifest.vocabulary.items,
    maxlen: source.maxlen,
    createdAt: source.manifest.createdAt,
    ...(source.manifest.git?.sha ? { commit: source.manifest.git.sha } : {}),
    trainedOn: source.manifest.data.sha256,
    evaluation: {
      seconds: ev.seconds,
      scoringSeconds: ev.scoringSeconds,
      peakRssBytes: ev.peakRssBytes,
      unknownTargets: ev.unknownTargets,
      sameVocabulary: ev.sameVocabulary,
      reused,
    },
  };
}

/** Metric values of one model on a set of users: ndcg@K, hr@K, mrr (full ranking), keyed "ndcg@10". */
export function metricValues(ev: ModelEvaluation, cutoffs: readonly number[], users?: Int32Array): Record<string, number> {
  const ranks = users ? Float64Array.from(users, (u) => ev.ranksFull[u]) : ev.ranksFull;
  const s = summarize(ranks, cutoffs);
  const out: Record<string, number> = {};
  for (const k of cutoffs) {
    out[`ndcg@${k}`] = s[`ndcg${k}`];
    out[`hr@${k}`] = s[`hr${k}`];
  }
  out.mrr = s.mrr;
  return out;
}

/** The candidate's metrics alone (first run): every display metric, no baseline, no interval. */
function candidateOnly(data: EvalData, ev: ModelEvaluation, rules: GateRules): MetricResult[] {
  return displayMetrics(rules, Boolean(ev.ranksSampled)).map(({ metric, protocol }) => {
    const { kind, k } = parseMetric(metric);
    const ranks = protocol === "full" ? ev.ranksFull : protocol === "masked" ? ev.ranksMasked : ev.ranksSampled!;
    let value: number;
    if (kind === "coverage") value = coverage(ev.top, ev.topWidth, Math.min(k, ev.topWidth), data.numItems);
    else {
      const v =
        kind === "popularity"
          ? topPopularity(ev.top, ev.topWidth, Math.min(k, ev.topWidth), data.popularity)
          : perUser(ranks, kind, k || 10);
      value = v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
    }
    return {
      name: metricName(metric, protocol, "all"),
      metric,
      protocol,
      slice: "all",
      users: ev.users,
      baseline: NaN,
      candidate: value,
      absDelta: NaN,
      relDelta: NaN,
      ciLow: NaN,
      ciHigh: NaN,
      absCiLow: NaN,
      absCiHigh: NaN,
      ciLevel: 0,
      gated: false,
      critical: false,
      direction: kind === "popularity" ? "lower" : "higher",
      pass: true,
      status: "info",
    };
  });
}

/** The format from the file's name, else the one the candidate's data was read with. */
function formatOf(path: string, recorded: string | undefined): DataFormat {
  try {
    return formatFromPath(path);
  } catch (error) {
    if (recorded && (DATA_FORMATS as readonly string[]).includes(recorded)) return recorded as DataFormat;
    throw error;
  }
}

const pct = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v * 100).toFixed(1)}%`;

/**
 * The evaluation data as the gate reads it: read options as given, else as the candidate's
 * training data was read (bundle.json `data.read`), and its k-core unless given.
 */
export async function evalDataFor(
  candidate: ModelSource,
  options: Pick<GateOptions, "data" | "read" | "kCore" | "rules" | "evalUsers" | "log">,
): Promise<EvalData> {
  const { rules } = options;
  const kCore = options.kCore ?? candidate.manifest.data.kCore ?? 0;
  const recorded = candidate.manifest.data.read;
  const given = options.read;
  const read: ReadOptions = {
    format: given.format && given.format !== "auto" ? given.format : formatOf(options.data, recorded?.format),
    userColumn: given.userColumn ?? recorded?.userColumn,
    itemColumn: given.itemColumn ?? recorded?.itemColumn,
    timeColumn: given.timeColumn ?? recorded?.timeColumn,
    eventColumn: given.eventColumn ?? recorded?.eventColumn,
    eventFilter: given.eventFilter ?? recorded?.eventFilter,
    query: given.query ?? recorded?.query,
  };
  return loadEvalData({
    ...read,
    path: options.data,
    kCore,
    excludeSeen: rules.protocol.excludeSeen,
    sampledNegatives: rules.protocol.sampledNegatives,
    seed: rules.seed,
    evalUsers: options.evalUsers,
    slices: rules.slices,
    log: options.log,
  });
}

/** The baseline, opened and evaluated (or its stored evaluation reused when computed on the same data, protocol and model). */
interface EvaluatedBaseline {
  model: OpenedModel;
  evaluation: ModelEvaluation;
  record?: BaselineRecord;
  reused: boolean;
}

/** Notes and warnings for the report, collected along the way. */
interface Remarks {
  notes: string[];
  warnings: string[];
}

async function evaluateBaseline(
  options: GateOptions,
  data: EvalData,
  topWidth: number,
  opened: OpenedModel[],
  remarks: Remarks,
): Promise<EvaluatedBaseline> {
  const { log } = options;
  const b = await openBaseline(options.baseline!, options.baselineModel, { verifyChecksums: options.verifyChecksums });
  const model = await openModel(b.source, data, options);
  opened.push(model);
  const key = evaluationKey(data.fingerprint, b.source.sha256, topWidth);
  const stored = b.record?.evaluationFile ? await readEvaluation(join(b.source.dir, b.record.evaluationFile), key) : undefined;
  if (stored) {
    log.info("baseline evaluation reused: it was computed on the same data, protocol and model");
    remarks.notes.push("The baseline's stored per-user evaluation was reused (same data fingerprint, protocol and model file).");
  } else if (b.record?.dataFingerprint && b.record.dataFingerprint !== data.fingerprint) {
    const msg = `The baseline was evaluated on other data or users when it was stored (fingerprint ${b.record.dataFingerprint.slice(0, 12)}, this run ${data.fingerprint.slice(0, 12)}): it was re-evaluated on this run's data, never compared on its old numbers.`;
    remarks.notes.push(msg);
    log.info(msg);
  }
  const evaluation =
    stored ??
    (await log.group("evaluating the baseline", () =>
      evaluateModel(model.scorer, b.source.itemIds, data, { topWidth, batchSize: options.batchSize, log }),
    ));
  if (evaluation.unknownTargets > 0)
    remarks.warnings.push(`${evaluation.unknownTargets} test targets are items the baseline does not know (counted as misses).`);
  return { model, evaluation, record: b.record, reused: Boolean(stored) };
}

/**
 * The candidate's training data against the baseline's, from the data-profile.json each holds
 * (train-model writes it; a stored baseline carries it). A model without one (trained with
 * validation off, or stored before profiles existed) means no comparison; an unreadable one
 * is a warning: the data note never decides the gate.
 */
async function dataDriftOf(
  candidateDir: string,
  baselineDir: string,
  policy: ValidationPolicy | undefined,
  remarks: Remarks,
  log: Logger,
): Promise<ProfileDrift | undefined> {
  try {
    const [now, before] = [await bundleProfile(candidateDir), await bundleProfile(baselineDir)];
    if (!now || !before) {
      log.info(`training data not compared: ${!now ? "the candidate" : "the baseline"} has no data profile`);
      return undefined;
    }
    const drift = compareProfiles(now, before, policy);
    log.info(
      drift.drifted.length
        ? `the candidate's training data drifted from the baseline's: ${drift.drifted.join(", ")}`
        : "the candidate's training data is in line with the baseline's",
    );
    return drift;
  } catch (error) {
    if (!(error instanceof RecshipError)) throw error;
    remarks.warnings.push(`The training data was not compared with the baseline's: ${error.message}.`);
    return undefined;
  }
}

/** Both models' latency side by side at the rules' batch sizes (candidate first). */
async function measureBoth(rules: GateRules, models: OpenedModel[], cases: number, log: Logger): Promise<LatencyStats[][]> {
  if (!rules.latency.enabled) return [];
  return log.group("measuring latency", async () => {
    const t0 = performance.now();
    const stats = await measureLatency(
      models.map((m) => m.servable),
      cases,
      { batchSizes: rules.latency.batchSizes, warmup: rules.latency.warmup, repetitions: rules.latency.repetitions, seed: rules.seed },
    );
    log.info(`${rules.latency.repetitions} timed runs per batch size in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    stats.forEach((model, i) =>
      log.info(`${i === 0 ? "candidate" : "baseline"}: ${model.map((s) => `batch ${s.batch} p50 ${s.p50.toFixed(2)} ms`).join(", ")}`),
    );
    return stats;
  });
}

/** Paired bootstrap of the metrics, Holm over the critical ones, Mann-Whitney of the latencies. */
async function compare(
  data: EvalData,
  candidate: ModelEvaluation,
  baseline: ModelEvaluation,
  rules: GateRules,
  latency: LatencyStats[][],
  log: Logger,
): Promise<Comparison> {
  return log.group("comparing", async () => {
    const t0 = performance.now();
    const c = compareModels(
      data,
      candidate,
      baseline,
      rules,
      latency.length === 2 ? { candidate: latency[0], baseline: latency[1] } : undefined,
    );
    log.info(`paired bootstrap (${rules.resamples} resamples), Holm and Mann-Whitney in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    return c;
  });
}

/** Each user slice's metrics for both models. */
function sliceSummaries(data: EvalData, rules: GateRules, candidate: ModelEvaluation, baseline?: ModelEvaluation): SliceSummary[] {
  return SLICES.map((slice) => {
    const users = sliceMembers(data.slices, slice);
    return {
      slice,
      label: sliceLabel(slice, rules.slices),
      users: users.length,
      candidate: metricValues(candidate, rules.cutoffs, users),
      ...(baseline ? { baseline: metricValues(baseline, rules.cutoffs, users) } : {}),
    };
  });
}

function gateHeadline(comparison: Comparison | undefined, metrics: readonly MetricResult[]): string {
  const main = metrics.find((m) => m.name === "ndcg@10") ?? metrics[0];
  if (!comparison)
    return `passed (first run): there is no baseline to compare with yet; the candidate's metrics are recorded (NDCG@10 ${main?.candidate.toFixed(4)}).`;
  if (comparison.passed)
    return `passed: no critical regression beyond its margin${main ? ` (${main.name} ${pct(main.relDelta)}, interval ${pct(main.ciLow)} to ${pct(main.ciHigh)})` : ""}.`;
  const { failures } = comparison;
  return `failed: ${failures[0]}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ""}.`;
}

/** The report's section on the baseline: the model, and where it came from. */
function baselineInfo(options: GateOptions, base: EvaluatedBaseline): GateReport["baseline"] {
  const { record, model } = base;
  return {
    ...modelInfo(model.source, base.evaluation, base.reused),
    origin: options.baselineOrigin ?? options.baseline!,
    ...(record?.savedAt ? { savedAt: record.savedAt } : {}),
    ...(record?.branch ? { branch: record.branch } : {}),
    ...(record?.runUrl ? { runUrl: record.runUrl } : {}),
    ...(record?.commit && !model.source.manifest.git?.sha ? { commit: record.commit } : {}),
  };
}

function dataInfo(data: EvalData): GateReport["data"] {
  return {
    source: data.source,
    sha256: data.sha256,
    fingerprint: data.fingerprint,
    format: data.format,
    users: data.users,
    items: data.numItems,
    interactions: data.interactions,
    testUsers: data.cases.length,
    eligibleUsers: data.eligibleUsers,
    kCore: data.kCore,
    excludeSeen: data.excludeSeen,
    sampledNegatives: data.negativesPerUser,
  };
}

/** The headline relative changes (metrics on all users, latency p50s, size): the action's outputs. */
function keyDeltasOf(
  metrics: readonly MetricResult[],
  comparison: Comparison | undefined,
  sizeDelta: number | undefined,
): Record<string, number> {
  const keyDeltas: Record<string, number> = {};
  for (const m of metrics) if (m.slice === "all" && Number.isFinite(m.relDelta)) keyDeltas[m.name] = m.relDelta;
  for (const l of comparison?.latency ?? []) keyDeltas[`latency-p50@${l.batch}`] = l.relDelta;
  if (sizeDelta !== undefined) keyDeltas.size = sizeDelta;
  return keyDeltas;
}

/** Everything measured, as the report: verdict, metrics, slices, ranking diff, latency, size, memory. */
/** What the gate measured besides the candidate's evaluation. */
interface Measured {
  comparison?: Comparison;
  latency: LatencyStats[][];
  remarks: Remarks;
  dataDrift?: ProfileDrift;
  shifts?: RankingShift[];
  started: number;
}

function gateReport(
  options: GateOptions,
  data: EvalData,
  candidate: { source: ModelSource; evaluation: ModelEvaluation },
  base: EvaluatedBaseline | undefined,
  measured: Measured,
): GateReport {
  const { rules } = options;
  const { comparison, latency, remarks } = measured;
  const metrics = comparison ? comparison.metrics : candidateOnly(data, candidate.evaluation, rules);
  remarks.warnings.push(...(comparison?.warnings ?? []));
  const slices = sliceSummaries(data, rules, candidate.evaluation, base?.evaluation);
  const emptySlices = slices.filter((s) => s.users === 0).map((s) => s.slice);
  if (emptySlices.length)
    remarks.notes.push(`No test user falls in the ${emptySlices.join(", ")} slice${emptySlices.length > 1 ? "s" : ""} of this data.`);
  const candidateBytes = candidate.source.bytesOnDisk;
  const size = {
    candidateBytes,
    ...(base ? { baselineBytes: base.model.source.bytesOnDisk, relDelta: candidateBytes / base.model.source.bytesOnDisk - 1 } : {}),
  };
  const diff = base
    ? rankingDiff(candidate.evaluation.top, base.evaluation.top, candidate.evaluation.topWidth, rules.rankingDiff.k, rules.rankingDiff.rboP)
    : undefined;
  const passed = comparison ? comparison.passed : true;
  return {
    schemaVersion: 1,
    step: "benchmark-gate",
    recshipVersion: RECSHIP_VERSION,
    createdAt: new Date().toISOString(),
    modelName: options.modelName ?? "default",
    passed,
    verdict: !comparison ? "no-baseline" : passed ? "pass" : "fail",
    headline: gateHeadline(comparison, metrics),
    failures: comparison?.failures ?? [],
    warnings: remarks.warnings,
    notes: remarks.notes,
    candidate: modelInfo(candidate.source, candidate.evaluation, false),
    ...(base ? { baseline: baselineInfo(options, base) } : {}),
    data: dataInfo(data),
    rules,
    metrics,
    slices,
    ...(diff
      ? {
          rankingDiff: {
            k: diff.k,
            rboP: diff.rboP,
            users: diff.users,
            meanOverlap: diff.meanOverlap,
            meanRbo: diff.meanRbo,
            identical: diff.identical,
            overlapHistogram: diff.overlapHistogram,
          },
        }
      : {}),
    ...(measured.shifts?.length ? { rankingShifts: measured.shifts } : {}),
    ...(measured.dataDrift ? { dataDrift: measured.dataDrift } : {}),
    latency: {
      batchSizes: rules.latency.enabled ? rules.latency.batchSizes : [],
      warmup: rules.latency.warmup,
      repetitions: rules.latency.repetitions,
      candidate: latency[0] ?? [],
      ...(latency[1] ? { baseline: latency[1] } : {}),
      tests: comparison?.latency ?? [],
    },
    size,
    memory: {
      candidatePeakRssBytes: candidate.evaluation.peakRssBytes,
      ...(base && !base.reused ? { baselinePeakRssBytes: base.evaluation.peakRssBytes } : {}),
      processPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    },
    evalSeconds: candidate.evaluation.seconds,
    wallSeconds: (performance.now() - measured.started) / 1000,
    keyDeltas: keyDeltasOf(metrics, comparison, size.relDelta),
  };
}

/** Users whose top-k changed most, explained in both models; a failure here is a warning (it never decides the gate). */
async function shiftsOf(
  data: EvalData,
  cand: OpenedModel & { evaluation: ModelEvaluation },
  base: EvaluatedBaseline,
  rules: GateRules,
  remarks: Remarks,
): Promise<RankingShift[] | undefined> {
  try {
    return await rankingShifts(
      data,
      { scorer: cand.scorer, itemIds: cand.source.itemIds, top: cand.evaluation.top },
      { scorer: base.model.scorer, itemIds: base.model.source.itemIds, top: base.evaluation.top },
      {
        width: cand.evaluation.topWidth,
        k: rules.rankingDiff.k,
        p: rules.rankingDiff.rboP,
        users: SHIFTED_USERS,
        limit: SHIFT_CONTRIBUTORS,
      },
    );
  } catch (error) {
    remarks.warnings.push(`explaining the users whose top ${rules.rankingDiff.k} changed most failed: ${(error as Error).message}`);
    return undefined;
  }
}

/** Users explained in the comment's ranking diff, and history items listed per changed item. */
const SHIFTED_USERS = 3;
const SHIFT_CONTRIBUTORS = 3;

/**
 * benchmark-gate: evaluates the candidate (and the baseline, unless its stored evaluation
 * was computed on the same data), measures both models' latency side by side, and compares
 * them under the rules. The caller renders, comments and stores the baseline.
 */
export async function runGate(options: GateOptions): Promise<GateOutcome> {
  const started = performance.now();
  const { log, rules } = options;
  const remarks: Remarks = { notes: [], warnings: [] };
  const candidateSource = await openModelSource(options.candidate, {
    model: options.candidateModel,
    role: "candidate",
    verifyChecksums: options.verifyChecksums,
  });
  const data = await evalDataFor(candidateSource, options);
  if (data.sha256 !== candidateSource.manifest.data.sha256) {
    remarks.notes.push(
      `The evaluation data is not the file the candidate was trained on (sha256 ${data.sha256.slice(0, 12)} vs ${candidateSource.manifest.data.sha256.slice(0, 12)}): its items are mapped through the candidate's vocabulary.`,
    );
  }
  const topWidth = topListWidth(rules);
  const opened: OpenedModel[] = [];
  try {
    const cand = await openModel(candidateSource, data, options);
    opened.push(cand);
    const evaluation = await log.group("evaluating the candidate", () =>
      evaluateModel(cand.scorer, candidateSource.itemIds, data, { topWidth, batchSize: options.batchSize, log }),
    );
    if (evaluation.unknownTargets > 0)
      remarks.warnings.push(`${evaluation.unknownTargets} test targets are items the candidate does not know (counted as misses).`);
    const base = options.baseline ? await evaluateBaseline(options, data, topWidth, opened, remarks) : undefined;
    const latency = await measureBoth(rules, base ? [cand, base.model] : [cand], data.cases.length, log);
    const comparison = base ? await compare(data, evaluation, base.evaluation, rules, latency, log) : undefined;
    const dataDrift = base ? await dataDriftOf(candidateSource.dir, base.model.source.dir, options.dataPolicy, remarks, log) : undefined;
    const shifts = base ? await shiftsOf(data, { ...cand, evaluation }, base, rules, remarks) : undefined;
    const measured = { comparison, latency, remarks, dataDrift, shifts, started };
    const report = gateReport(options, data, { source: candidateSource, evaluation }, base, measured);
    log.info(`benchmark-gate ${report.headline}`);
    return { report, data, candidate: candidateSource, candidateEvaluation: evaluation };
  } finally {
    for (const m of opened) await m.scorer.release();
  }
}
