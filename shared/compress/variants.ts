import { RecshipError } from "../errors.js";

/** Compression methods, in the order a composed variant applies them. */
const METHODS = ["distill", "prune", "emb-int8", "emb-int4", "int8-dynamic", "int8-qdq", "int8-qdq-pct", "fp16"] as const;
export type Method = (typeof METHODS)[number];

export const METHOD_DESCRIPTIONS: Record<Method, string> = {
  distill: "smaller SASRec student trained on the teacher's scores, exported to ONNX",
  prune: "magnitude pruning of dense weights and the item table (dense file unchanged: see gzip)",
  "emb-int8": "item table and tied output projection, row-wise int8",
  "emb-int4": "item table and tied output projection, 4-bit blocks (GatherBlockQuantized / MatMulNBits)",
  "int8-dynamic": "dense layers: int8 per-channel weights, activations quantized at run time (MatMulInteger)",
  "int8-qdq": "dense layers: static QDQ int8, activations calibrated min-max",
  "int8-qdq-pct": "dense layers: static QDQ int8, activations calibrated at a percentile",
  fp16: "float16 storage; CPU computes in float32",
};

/** Methods that stand for the same part of the model; a variant takes at most one of each group. */
const EXCLUSIVE: Method[][] = [
  ["emb-int8", "emb-int4"],
  ["int8-dynamic", "int8-qdq", "int8-qdq-pct"],
];
/** fp16 rounds float weights; with int8/int4 storage there is (almost) nothing left for it. */
const QUANTIZED: Method[] = ["emb-int8", "emb-int4", "int8-dynamic", "int8-qdq", "int8-qdq-pct"];

/**
 * The default set: each cheap method alone and the useful compositions (the embedding table
 * is most of a recommender, so the int8/int4 table with int8 dense layers is where size and
 * latency are won). Distillation trains a model, so it runs only when asked for.
 */
const DEFAULT_VARIANTS = [
  "int8-dynamic",
  "int8-qdq",
  "int8-qdq-pct",
  "emb-int8",
  "emb-int4",
  "fp16",
  "prune",
  "emb-int8+int8-dynamic",
  "emb-int8+int8-qdq-pct",
  "emb-int4+int8-dynamic",
];

export interface VariantSpec {
  /** Methods joined by "+" in application order, e.g. "distill+emb-int8+int8-dynamic". */
  id: string;
  methods: Method[];
}

function parseVariant(text: string): VariantSpec {
  const parts = text
    .split("+")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (parts.length === 0)
    throw new RecshipError(`"${text}" names no compression method`, { fix: `use methods from: ${METHODS.join(", ")}` });
  for (const p of parts) {
    if (!METHODS.includes(p as Method)) {
      throw new RecshipError(`unknown compression method "${p}"${parts.length > 1 ? ` in "${text}"` : ""}`, {
        fix: `use ${METHODS.join(", ")}; join methods with "+" to compose them (e.g. distill+emb-int8+int8-dynamic)`,
      });
    }
  }
  const methods = [...new Set(parts as Method[])];
  if (methods.length !== parts.length) throw new RecshipError(`"${text}" names a method twice`);
  for (const group of EXCLUSIVE) {
    const both = methods.filter((m) => group.includes(m));
    if (both.length > 1) {
      throw new RecshipError(`"${text}" combines ${both.join(" and ")}, which quantize the same weights`, { fix: "keep one of them" });
    }
  }
  if (methods.includes("fp16") && methods.some((m) => QUANTIZED.includes(m))) {
    throw new RecshipError(`"${text}" combines fp16 with int8/int4 quantization`, {
      fix: "fp16 composes with distill and prune only; int8/int4 variants already store the large weights in fewer bits",
    });
  }
  methods.sort((a, b) => METHODS.indexOf(a) - METHODS.indexOf(b));
  return { id: methods.join("+"), methods };
}

/** Parses a list of variants (each a method or a "+" composition), dropping duplicates. */
export function parseVariants(list: string[] | undefined): VariantSpec[] {
  const specs = (list && list.length > 0 ? list : DEFAULT_VARIANTS).map(parseVariant);
  const seen = new Set<string>();
  return specs.filter((s) => (seen.has(s.id) ? false : (seen.add(s.id), true)));
}
