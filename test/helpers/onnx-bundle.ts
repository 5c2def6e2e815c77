import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BUNDLE_SCHEMA_VERSION, type BundleManifest } from "../../shared/bundle/manifest.js";
import { sha256Of, writeManifest } from "../../shared/bundle/bundle-io.js";
import { DEFAULT_CONFIG, type SasrecConfig } from "../../shared/model/config.js";
import { paramSpecs } from "../../shared/model/sasrec.js";
import { encodeWeights } from "../../shared/model/weights-file.js";
import { stableHash } from "../../shared/util/hash.js";
import { Rng } from "../../shared/util/random.js";
import { RECSHIP_VERSION } from "../../shared/version.js";

export const TINY_CONFIG: SasrecConfig = {
  ...DEFAULT_CONFIG.model,
  hidden: 16,
  blocks: 2,
  heads: 2,
  maxlen: 10,
  ffnDim: 24,
  dropout: 0.2,
  norm: "pre",
  activation: "gelu",
  layerNormEpsilon: 1e-6,
};

/**
 * Every parameter random, biases and LayerNorm betas included (a mapping that dropped a
 * bias would go unnoticed with the zero initialisation), gammas around 1, the padding row
 * of item_emb non-zero too (the mask, not the zero row, must hide padding).
 */
export function randomWeights(config: SasrecConfig, numItems: number, seed: number): Map<string, Float32Array> {
  const rng = new Rng(`onnx-test:${seed}`);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const values = new Map<string, Float32Array>();
  for (const spec of paramSpecs(config, numItems)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const fanIn = spec.shape.length === 2 ? spec.shape[0] : 1;
    const std =
      spec.name === "item_emb"
        ? 1 / Math.sqrt(config.hidden)
        : spec.name === "pos_emb"
          ? 0.3
          : spec.shape.length === 2
            ? 1 / Math.sqrt(fanIn)
            : 0.1;
    if (spec.name === "item_codes") {
      // a quantized table's codes: a seeded codeword of each subspace per item
      const [rows, subspaces] = spec.shape;
      const centroids = config.itemTable!.centroids;
      const codes = new Float32Array(size);
      for (let r = 0; r < rows; r++)
        for (let m = 0; m < subspaces; m++) codes[r * subspaces + m] = m * centroids + Math.floor(rng.next() * centroids);
      values.set(spec.name, codes);
      continue;
    }
    const offset = spec.name.endsWith(".gamma") ? 1 : 0;
    values.set(
      spec.name,
      Float32Array.from({ length: size }, () => offset + std * normal()),
    );
  }
  return values;
}

export interface TestBundle {
  dir: string;
  manifest: BundleManifest;
  weights: Map<string, Float32Array>;
}

/** Writes a schema-valid bundle (bundle.json, weights.bin, items.txt) holding the given weights. */
export async function writeTestBundle(
  dir: string,
  options: { config?: Partial<SasrecConfig>; numItems?: number; seed?: number; weights?: Map<string, Float32Array> } = {},
): Promise<TestBundle> {
  const config: SasrecConfig = { ...TINY_CONFIG, ...options.config };
  const numItems = options.numItems ?? 40;
  const weights = options.weights ?? randomWeights(config, numItems, options.seed ?? 1);
  const specs = paramSpecs(config, numItems);
  const encoded = encodeWeights(weights, new Map(specs.map((s) => [s.name, s.shape])));
  const vocabulary = `${Array.from({ length: numItems }, (_, i) => `sku-${i + 1}`).join("\n")}\n`;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "weights.bin"), encoded.data);
  await writeFile(join(dir, "items.txt"), vocabulary);
  const metrics = { full: { ndcg10: 0.1, hr10: 0.2, mrr: 0.05 }, sampled: { ndcg10: 0.3, hr10: 0.5 }, users: 10 };
  const manifest: BundleManifest = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    recshipVersion: RECSHIP_VERSION,
    createdAt: new Date().toISOString(),
    model: {
      kind: "sasrec",
      config,
      parameters: specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0),
      configHash: stableHash(config),
    },
    vocabulary: { file: "items.txt", items: numItems, sha256: sha256Of(vocabulary) },
    data: {
      source: "synthetic.csv",
      format: "csv",
      sha256: "0".repeat(64),
      bytes: 1,
      users: 10,
      items: numItems,
      interactions: 100,
      evaluationUsers: 10,
    },
    git: { sha: "abc123", ref: "main" },
    weights: { file: "weights.bin", sha256: encoded.sha256, bytes: encoded.data.byteLength, tensors: encoded.tensors },
    training: {
      config: DEFAULT_CONFIG.train,
      backend: "test",
      epochs: 1,
      bestEpoch: 1,
      stoppedBy: "epochs",
      trainSeconds: 0,
      sequencesPerSecond: 0,
      log: "training-log.jsonl",
      validation: metrics,
      test: metrics,
      popularity: { validation: metrics, test: metrics },
    },
    artifacts: {},
  };
  await writeManifest(dir, manifest);
  return { dir, manifest, weights };
}
