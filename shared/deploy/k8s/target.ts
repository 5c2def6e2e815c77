import { RecshipError } from "../../errors.js";
import type { DeployRequest, DeployResult, DeployStatus, DeployTarget } from "../../rollout/target.js";
import { deployKubernetes, kubernetesStatus, teardownKubernetes } from "./deploy.js";
import type { KubernetesDeployOptions, KubernetesDeployResult, ModelSource } from "./types.js";

export interface KubernetesTargetOptions extends Omit<KubernetesDeployOptions, "mode" | "model" | "canaryWeight"> {
  /**
   * The model's checksum, version and kind: a request's `bundle` is the URL the cluster
   * downloads it from (the cluster cannot read the runner's disk).
   */
  model?: Omit<ModelSource, "url">;
}

/**
 * The Kubernetes target behind the target-neutral DeployTarget interface (the same one the
 * local target implements). `lastResult` keeps the full Kubernetes result of the last deploy.
 */
export class KubernetesTarget implements DeployTarget {
  readonly name = "kubernetes";
  lastResult: KubernetesDeployResult | undefined;

  constructor(private readonly options: KubernetesTargetOptions) {}

  async deploy(request: DeployRequest): Promise<DeployResult> {
    const started = performance.now();
    let model: ModelSource | undefined;
    if (request.bundle) {
      if (!/^(https?|s3|gs):\/\//.test(request.bundle)) {
        throw new RecshipError(
          `the kubernetes target downloads the model inside the cluster, so the bundle must be a URL, got "${request.bundle}"`,
          {
            fix: "upload the bundle tarball (or ONNX file) and pass its http(s)://, s3:// or gs:// URL",
          },
        );
      }
      if (!this.options.model)
        throw new RecshipError("the kubernetes target needs the model's sha256 and version", {
          fix: "pass model-sha256 and model-version",
        });
      model = { ...this.options.model, url: request.bundle };
    }
    const before = await this.status();
    const { model: _source, ...rest } = this.options;
    this.lastResult = await deployKubernetes({
      ...rest,
      mode: request.mode,
      ...(model ? { model } : {}),
      ...(request.weight !== undefined ? { canaryWeight: request.weight } : {}),
    });
    const after = await this.status();
    return { mode: request.mode, before, after, seconds: (performance.now() - started) / 1000 };
  }

  status(): Promise<DeployStatus> {
    return kubernetesStatus(this.options);
  }

  async teardown(): Promise<void> {
    await teardownKubernetes(this.options);
  }
}
