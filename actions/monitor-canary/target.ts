import { kubernetesTargetOptionsFrom, type MonitorTarget } from "../../shared/canary/options.js";
import type { MonitorMode } from "../../shared/canary/settings.js";
import { KubernetesTarget } from "../../shared/deploy/k8s/target.js";
import { LocalTarget } from "../../shared/deploy/local/local-target.js";
import { RecshipError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";
import type { DeployTarget } from "../../shared/rollout/target.js";
import { besideModule } from "../../shared/util/beside.js";
import type { OptionReader } from "../../shared/util/option-spec.js";
import { openKubeconfig } from "../common/kubeconfig-session.js";

/** The deploy target from the inputs, and what to clean up afterwards (a kubeconfig written for this step). */
export function targetFromInputs(o: OptionReader, mode: MonitorMode, log: Logger): { target?: DeployTarget; cleanup: () => void } {
  const name = o.choice<MonitorTarget>("target")!;
  if (name === "none") {
    if (mode === "auto")
      throw new RecshipError("input target none can only observe", { fix: "mode: observe, or target: local or kubernetes" });
    return { cleanup: () => {} };
  }
  if (name === "local") {
    const cli = besideModule("../cli/index.js", import.meta.url);
    return {
      target: new LocalTarget({ state: o.requiredText("state"), command: [process.execPath, cli], port: 0, log }),
      cleanup: () => {},
    };
  }
  const session = openKubeconfig("recship-monitor-");
  return {
    target: new KubernetesTarget({ ...kubernetesTargetOptionsFrom(o, log), kubeconfig: session.kubeconfig, tempDir: session.dir }),
    cleanup: session.close,
  };
}
