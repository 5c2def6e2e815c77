import type { BundleManifest } from "../bundle/manifest.js";
import { RECSHIP_VERSION } from "../version.js";

/**
 * metadata_props for an exported model: where it came from (data, commit, config, weights,
 * vocabulary checksums) and what it measured. Deterministic: no timestamps, so the same
 * bundle exports to the same bytes.
 */
export function lineageMetadata(manifest: BundleManifest, extra: Record<string, string> = {}): Record<string, string> {
  const metrics = {
    validation: manifest.training.validation.full,
    test: manifest.training.test.full,
    ...(manifest.training.test.sampled ? { testSampled: manifest.training.test.sampled } : {}),
    popularityTest: manifest.training.popularity?.test?.full,
    epochs: manifest.training.epochs,
    bestEpoch: manifest.training.bestEpoch,
    evaluationUsers: manifest.training.test.users,
  };
  const entries: Record<string, string> = {
    "recship.version": RECSHIP_VERSION,
    "recship.bundle_schema_version": String(manifest.schemaVersion),
    "recship.bundle_recship_version": manifest.recshipVersion,
    "recship.bundle_created_at": manifest.createdAt,
    "recship.model_kind": manifest.model.kind,
    "recship.model_config": JSON.stringify(manifest.model.config),
    "recship.model_config_hash": manifest.model.configHash,
    "recship.data_sha256": manifest.data.sha256,
    "recship.data_source": manifest.data.source,
    "recship.git_sha": manifest.git?.sha ?? "",
    "recship.git_ref": manifest.git?.ref ?? "",
    "recship.git_repository": manifest.git?.repository ?? "",
    "recship.weights_sha256": manifest.weights.sha256,
    "recship.vocabulary_sha256": manifest.vocabulary.sha256,
    "recship.items": String(manifest.vocabulary.items),
    "recship.training_metrics": JSON.stringify(metrics),
    ...extra,
  };
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== ""));
}
