import { copyFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadBundle, writeManifest } from "../bundle/bundle-io.js";
import { MANIFEST_FILE } from "../bundle/manifest.js";
import { lineageMetadata } from "../onnx/lineage.js";
import { mappingFor } from "../onnx/mappings.js";
import { makeModel, writeModel } from "../onnx/writer.js";
import { Rng } from "../util/random.js";
import { RECSHIP_VERSION } from "../version.js";

export interface PerturbOptions {
  /** Noise standard deviation relative to the tensor's root mean square (0.1 = 10%). */
  noise: number;
  seed: number | string;
  /** Tensors to perturb (default: the item embeddings). */
  tensors?: string[];
  topK?: number;
}

/**
 * Copies a converted bundle into `out` with Gaussian noise added to some weights (by default
 * the item embeddings) and a freshly exported model.onnx: a candidate that is worse than the
 * original by an amount the noise controls. For the gate's experiments and tests.
 */
export async function writePerturbedBundle(bundleDir: string, out: string, options: PerturbOptions): Promise<string> {
  const bundle = await loadBundle(resolve(bundleDir));
  const { manifest } = bundle;
  const rng = new Rng(`perturb:${options.seed}`);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const weights = new Map(bundle.weights);
  for (const name of options.tensors ?? ["item_emb"]) {
    const w = weights.get(name);
    if (!w) throw new Error(`no tensor "${name}" in the bundle`);
    let ss = 0;
    for (const v of w) ss += v * v;
    const std = options.noise * Math.sqrt(ss / Math.max(1, w.length));
    weights.set(
      name,
      Float32Array.from(w, (v) => v + std * normal()),
    );
  }
  const dir = resolve(out);
  await mkdir(dir, { recursive: true });
  const mapping = mappingFor(manifest.model.kind, bundle.dir);
  const topK = options.topK ?? Number(manifest.artifacts.onnx?.topK ?? 10);
  const graph = mapping.buildGraph({ config: manifest.model.config, numItems: manifest.vocabulary.items, weights, topK });
  const model = makeModel(graph.build(), {
    producerName: "recship",
    producerVersion: RECSHIP_VERSION,
    metadata: lineageMetadata(manifest, {
      "recship.perturbed": JSON.stringify({ noise: options.noise, seed: options.seed, tensors: options.tensors ?? ["item_emb"] }),
    }),
  });
  const written = await writeModel(join(dir, "model.onnx"), model);
  await copyFile(join(bundle.dir, manifest.vocabulary.file), join(dir, manifest.vocabulary.file));
  await copyFile(join(bundle.dir, manifest.weights.file), join(dir, manifest.weights.file));
  await copyFile(join(bundle.dir, MANIFEST_FILE), join(dir, MANIFEST_FILE));
  await writeManifest(dir, {
    ...manifest,
    artifacts: {
      ...manifest.artifacts,
      onnx: {
        ...(manifest.artifacts.onnx ?? {}),
        file: "model.onnx",
        sha256: written.sha256,
        bytes: written.bytes,
        createdAt: new Date().toISOString(),
        perturbed: { noise: options.noise, seed: options.seed },
      },
    },
  });
  return join(dir, "model.onnx");
}
