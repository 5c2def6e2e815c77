import { SKIP_CHECKSUMS_OPTION } from "../bundle/bundle-files.js";
import { RecshipError } from "../errors.js";
import { DEPLOY_MODES, type DeployMode, type DeployRequest } from "../rollout/target.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import type { LocalTargetOptions } from "./local/local-target.js";
import { parseServerArgs } from "./server-args.js";
import { ALERT_OPTIONS } from "./monitoring/options.js";
import { KUBERNETES_CONNECTION_OPTIONS, KUBERNETES_MODEL_OPTIONS, KUBERNETES_SETTING_OPTIONS } from "./k8s/options.js";

/** The CLI's local target also reports and tears down. */
const LOCAL_MODES = [...DEPLOY_MODES, "status", "stop"] as const;
export type LocalMode = (typeof LOCAL_MODES)[number];

const MODE_DESCRIPTION =
  "canary (new model beside stable at canary-weight), promote (canary becomes stable), rollback (canary removed), direct (replace stable, no canary) or set-weight; set-weight, promote and rollback keep the settings recorded on the live Deployments and need only the connection and name";

/** deploy-k8s's options: `recship deploy` flags and the action's inputs (action.yml is generated from this). */
export const DEPLOY_OPTIONS: readonly OptionSpec[] = [
  {
    name: "target",
    kind: "choice",
    choices: ["kubernetes", "local"],
    default: "kubernetes",
    frontEnds: ["action"],
    description: "Where to deploy: kubernetes, or local (recship serve processes behind a weighted router on this runner)",
  },
  {
    name: "target",
    kind: "choice",
    choices: ["kubernetes", "local"],
    default: "local",
    frontEnds: ["cli"],
    description: "Where to deploy: local (recship serve processes behind a weighted router on this machine) or kubernetes",
  },
  { name: "mode", kind: "choice", choices: DEPLOY_MODES, default: "canary", frontEnds: ["action"], description: MODE_DESCRIPTION },
  {
    name: "mode",
    kind: "choice",
    choices: LOCAL_MODES,
    required: true,
    frontEnds: ["cli"],
    description: `${MODE_DESCRIPTION}; local target also status and stop`,
  },
  ...KUBERNETES_CONNECTION_OPTIONS.map((s) =>
    s.name === "name"
      ? {
          ...s,
          description:
            "App name: kubernetes, the Service's name and every object's prefix (default recship); local, the model name served (default recommender)",
        }
      : s,
  ),
  ...KUBERNETES_MODEL_OPTIONS,
  {
    name: "canary-weight",
    flag: "weight",
    kind: "int",
    placeholder: "percent",
    description: "Canary share of the traffic in percent, 0 to 100 (canary: default 10; set-weight)",
  },
  ...KUBERNETES_SETTING_OPTIONS,
  {
    name: "force-conflicts",
    kind: "boolean",
    default: "false",
    description: "kubernetes: take over fields another field manager owns (server-side apply force); default: fail on a conflict",
  },
  {
    name: "dry-run",
    kind: "boolean",
    default: "false",
    description: "kubernetes: render, server-side dry-run and diff against the live objects; change nothing",
  },
  {
    name: "bundle",
    kind: "text",
    default: "recship-bundle",
    placeholder: "dir",
    description: "local: bundle folder to ship (canary, direct)",
  },
  { name: "model", kind: "text", placeholder: "file", description: "local: ONNX file to serve instead of the bundle's chosen one" },
  {
    name: "state",
    kind: "text",
    default: ".recship/local-deploy.json",
    placeholder: "file",
    description: "local: state file of the local target",
  },
  { name: "port", kind: "int", default: "8080", description: "local: the router's port (0: any free port)" },
  { ...SKIP_CHECKSUMS_OPTION, description: `local: ${SKIP_CHECKSUMS_OPTION.description} (kept for later promotes)` },
  { name: "host", kind: "text", default: "127.0.0.1", frontEnds: ["cli"], description: "local: the router's address" },
  {
    name: "ready-timeout",
    kind: "positive",
    default: "120",
    placeholder: "seconds",
    description: "local: longest wait for a new server to turn ready",
  },
  ...ALERT_OPTIONS,
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description:
      "Write the deploy result as JSON to this path (the action's default: deploy-report.json; the rendered manifests go beside it)",
  },
];

/** The local target's settings (the front end adds how to start the CLI and the logger). */
export function localTargetOptionsFrom(o: OptionReader): Omit<LocalTargetOptions, "command" | "log"> {
  const serveArgs = parseServerArgs(o.text("server-args"), o.where("server-args"));
  return {
    state: o.requiredText("state"),
    port: o.int("port"),
    host: o.text("host"),
    modelName: o.text("name"),
    serveArgs: serveArgs.length ? serveArgs : undefined,
    readyTimeoutMs: o.positive("ready-timeout")! * 1000,
    skipBundleChecksums: o.boolean("skip-bundle-checksums"),
  };
}

/** What the local target is asked to do: the bundle for canary and direct, the weight when given. */
export function localRequestFrom(o: OptionReader, mode: DeployMode): DeployRequest {
  const weight = o.int("canary-weight");
  if (weight !== undefined && !(weight >= 0 && weight <= 100))
    throw new RecshipError(`${o.where("canary-weight")} must be from 0 to 100, got ${weight}`);
  return {
    mode,
    ...(mode === "canary" || mode === "direct" ? { bundle: o.requiredText("bundle") } : {}),
    ...(o.text("model") !== undefined ? { model: o.text("model") } : {}),
    ...(weight !== undefined ? { weight } : {}),
  };
}
