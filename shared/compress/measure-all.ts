import { join } from "node:path";
import { evaluate, type EvalCase } from "../eval/evaluator.js";
import type { Logger } from "../log.js";
import { STUDENT_FILE, COMPRESSED_DIR, type BuiltFile } from "./build-all.js";
import type { BuildSettings } from "./build-variant.js";
import type { DistilledStudent } from "./distill/distill-student.js";
import type { CompressEvalData } from "./eval-data.js";
import { measureLatency, measureSize, type LatencyPlan, type LatencyStats } from "./measure.js";
import { openSession, SessionScorer } from "./ort-session.js";
import type { MeasuredModel, Objective, QualityMetrics, VariantResult } from "./report.js";
import { judge } from "./select.js";
import type { VariantSpec } from "./variants.js";

/** What measuring needs: the data, the fp32 model, the session settings and the budget. */
export interface MeasureContext {
  dir: string;
  basePath: string;
  data: CompressEvalData;
  numItems: number;
  maxlen: number;
  parameters: number;
  studentParameters?: number;
  threads: number;
  seed: number;
  plan: LatencyPlan;
  budget: { maxNdcgDrop: number; objective: Objective };
  log: Logger;
}

type Quality = Awaited<ReturnType<typeof quality>>;

/** Full-ranking NDCG@10 / HR@10 / MRR on the validation and test splits, and each validation user's rank. */
async function quality(scorer: SessionScorer, validation: EvalCase[], test: EvalCase[], seed: number) {
  const v = await evaluate(scorer, validation, { seed, sampledNegatives: 0 });
  const t = await evaluate(scorer, test, { seed, sampledNegatives: 0 });
  const pick = (r: typeof v): QualityMetrics => ({
    ndcg10: r.full.ndcg10,
    hr10: r.full.hr10,
    mrr: r.full.mrr,
    maskedNdcg10: r.fullMasked.ndcg10,
    maskedHr10: r.fullMasked.hr10,
  });
  return { validation: pick(v), test: pick(t), ranks: v.ranks.full };
}

/**
 * Measures the fp32 model and every variant: quality one model at a time, then latency with
 * every model loaded, taking turns (so drift of the machine's speed hits them alike); judges
 * each variant against the budget.
 */
export async function measureAll(
  built: readonly BuiltFile[],
  ctx: MeasureContext,
  notes: (spec: VariantSpec) => string[],
): Promise<{ baseline: MeasuredModel; variants: VariantResult[] }> {
  const { data, log, seed } = ctx;
  const sessions: { release(): Promise<void> }[] = [];
  try {
    const open = async (path: string) => {
      const session = await openSession(path, { threads: ctx.threads });
      sessions.push(session);
      return new SessionScorer(session, ctx.numItems, ctx.maxlen);
    };
    const baseScorer = await open(ctx.basePath);
    const baseQuality = await log.group("measuring the fp32 model", () => quality(baseScorer, data.validation, data.test, seed));
    const measured: { scorer: SessionScorer; quality: Quality }[] = [];
    for (const b of built) {
      const scorer = await open(b.file);
      const q = await quality(scorer, data.validation, data.test, seed);
      log.info(`${b.spec.id}: validation NDCG@10 ${q.validation.ndcg10.toFixed(4)} (fp32 ${baseQuality.validation.ndcg10.toFixed(4)})`);
      measured.push({ scorer, quality: q });
    }
    const latency = await log.group(`latency: batch 1 and 64, ${ctx.plan.repetitions} runs each, ${ctx.threads} thread(s)`, () =>
      measureLatency(
        [baseScorer, ...measured.map((m) => m.scorer)],
        data.validation.map((c) => c.history),
        ctx.plan,
      ),
    );
    const baseline: MeasuredModel = {
      method: "fp32",
      path: ctx.basePath,
      ...(await measureSize([ctx.basePath])),
      parameters: ctx.parameters,
      latency: { batch1: latency[0][0], batch64: latency[0][1] },
      validation: baseQuality.validation,
      test: baseQuality.test,
    };
    const variants: VariantResult[] = [];
    for (const [i, b] of built.entries()) {
      variants.push(await judged(b, measured[i].quality, latency[i + 1], baseline, baseQuality, ctx, notes(b.spec)));
    }
    return { baseline, variants };
  } finally {
    for (const session of sessions) await session.release().catch(() => undefined);
  }
}

/** One variant's measurements judged against the baseline and the budget. */
async function judged(
  b: BuiltFile,
  q: Quality,
  latency: LatencyStats[],
  baseline: MeasuredModel,
  baseQuality: Quality,
  ctx: MeasureContext,
  notes: string[],
): Promise<VariantResult> {
  let changed = 0;
  for (let u = 0; u < q.ranks.length; u++) if (q.ranks[u] !== baseQuality.ranks[u]) changed++;
  const fromStudent = b.spec.methods.includes("distill");
  const installed = fromStudent && b.spec.methods.length === 1 ? STUDENT_FILE : `${COMPRESSED_DIR}/${b.spec.id}.onnx`;
  return judge(
    baseline,
    {
      method: b.spec.id,
      path: join(ctx.dir, installed),
      ...(await measureSize(b.files)),
      parameters: fromStudent ? ctx.studentParameters! : ctx.parameters,
      latency: { batch1: latency[0], batch64: latency[1] },
      validation: q.validation,
      test: q.test,
    },
    {
      methods: b.spec.methods,
      rankChangedShare: q.ranks.length ? changed / q.ranks.length : 0,
      notes,
      details: b.details,
      sha256: b.sha256,
      ...(b.calibration ? { calibration: b.calibration } : {}),
    },
    ctx.budget,
  );
}

/** What a reader should know about a variant's numbers (fp16 computes in fp32, a pruned file does not shrink, ...). */
export function notesFor(spec: VariantSpec, settings: BuildSettings, student?: DistilledStudent): string[] {
  const notes: string[] = [];
  for (const m of spec.methods) {
    if (m === "fp16") notes.push("fp16 storage only: the CPU provider computes in fp32 (same speed as fp32)");
    if (m === "prune")
      notes.push(
        `${Math.round(settings.sparsity * 100)}% of the dense and embedding weights are zero: a dense file does not shrink, see the gzip size`,
      );
    if (m === "int8-dynamic") notes.push("activations quantized per batch at run time");
    if (m === "emb-int8") notes.push("item table int8 per row; the user embedding is quantized per batch for the output projection");
    if (m === "emb-int4")
      notes.push(
        `item table 4-bit, blocks of ${settings.int4BlockSize}; output projection MatMulNBits (accuracy level ${settings.int4AccuracyLevel})`,
      );
    if (m === "int8-qdq") notes.push(`activations calibrated (min-max) on ${settings.calibrationSize} validation histories`);
    if (m === "int8-qdq-pct")
      notes.push(`activations calibrated (${settings.percentile}th percentile) on ${settings.calibrationSize} validation histories`);
    if (m === "distill" && student)
      notes.push(
        `student: hidden ${student.config.hidden}, ${student.config.blocks} blocks, ${student.parameters.toLocaleString("en-US")} parameters`,
      );
  }
  return notes;
}
