import * as core from "@actions/core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeKubeconfig, kubeconfigSecrets } from "../../shared/deploy/k8s/kubeconfig.js";
import { RecshipError } from "../../shared/errors.js";

// The Kubernetes connection deploy-k8s and monitor-canary share: the kubeconfig, masked and
// written to a private folder that goes away with the step, also on a signal. (The deployment
// settings are declared once, for both front ends, in shared/deploy/k8s/options.ts.)

export interface KubeconfigSession {
  kubeconfig: string;
  /** Where the library writes the kubeconfig (0600) for the client. */
  dir: string;
  /** Removes the folder and the signal handlers. */
  close(): void;
}

/**
 * Reads input kubeconfig, masks it before anything could print it (the text, its base64-decoded
 * form, every credential in it), and makes the folder it will be written to, removed on close()
 * and on SIGINT / SIGTERM (a cancelled job).
 */
export function openKubeconfig(prefix: string): KubeconfigSession {
  const kubeconfig = core.getInput("kubeconfig");
  if (!kubeconfig.trim()) {
    throw new RecshipError("target kubernetes needs the kubeconfig", {
      where: "input kubeconfig",
      fix: "kubeconfig: ${{ secrets.KUBECONFIG }}",
    });
  }
  core.setSecret(kubeconfig);
  for (const s of kubeconfigSecrets(kubeconfig)) core.setSecret(s);
  for (const s of kubeconfigSecrets(decodeKubeconfig(kubeconfig, "input kubeconfig"))) core.setSecret(s);
  const dir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), prefix));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return {
    kubeconfig,
    dir,
    close: () => {
      cleanup();
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
}
