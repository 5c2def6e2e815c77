import { RecshipError } from "../errors.js";

/**
 * canary: start the new model beside stable and send it `weight` % of the traffic;
 * promote: the canary becomes stable, the old stable stops;
 * rollback: the canary stops, all traffic back to stable;
 * direct: replace stable outright (no canary);
 * set-weight: change the canary's share.
 */
export const DEPLOY_MODES = ["canary", "promote", "rollback", "direct", "set-weight"] as const;
export type DeployMode = (typeof DEPLOY_MODES)[number];

export interface DeployRequest {
  mode: DeployMode;
  /** The bundle to ship (canary and direct). */
  bundle?: string;
  /** An ONNX file to serve instead of the bundle's chosen one. */
  model?: string;
  /** Canary share of the traffic in percent, 0 to 100 (canary and set-weight). */
  weight?: number;
}

export interface VariantStatus {
  variant: "stable" | "canary";
  /** The model version the server reports (see modelVersion()). */
  version: string;
  bundle: string;
  /** Where this variant's server answers directly (not through the router). */
  endpoint: string;
  ready: boolean;
}

export interface DeployStatus {
  target: string;
  /** Where clients send requests (the router). */
  endpoint?: string;
  stable?: VariantStatus;
  canary?: VariantStatus;
  /** Canary share of the traffic in percent. */
  canaryWeight: number;
}

export interface DeployResult {
  mode: DeployMode;
  before: DeployStatus;
  after: DeployStatus;
  seconds: number;
}

/**
 * Where models are shipped: a local router with child processes, or a cluster. Every target
 * switches without dropping requests: start the new server, wait until ready, switch traffic,
 * drain the old one, stop it.
 */
export interface DeployTarget {
  readonly name: string;
  deploy(request: DeployRequest): Promise<DeployResult>;
  status(): Promise<DeployStatus>;
  /** Stops everything the target runs. */
  teardown(): Promise<void>;
}

/** The target-neutral rules: which modes need a bundle, weight in range, and what the current state allows. */
export function checkDeployRequest(request: DeployRequest, current: DeployStatus): void {
  const { mode } = request;
  if (!DEPLOY_MODES.includes(mode)) throw new RecshipError(`unknown deploy mode "${String(mode)}"; use one of ${DEPLOY_MODES.join(", ")}`);
  if ((mode === "canary" || mode === "direct") && !request.bundle) {
    throw new RecshipError(`deploy mode ${mode} needs the bundle to ship`, { fix: "pass --bundle <dir>" });
  }
  if (request.weight !== undefined && (!Number.isFinite(request.weight) || request.weight < 0 || request.weight > 100)) {
    throw new RecshipError(`the canary weight must be a percentage from 0 to 100, got ${request.weight}`);
  }
  if (mode === "set-weight" && request.weight === undefined) throw new RecshipError("deploy mode set-weight needs --weight");
  if (mode === "canary" && !current.stable) {
    throw new RecshipError("there is no stable model to run a canary beside", { fix: "deploy the first model with mode direct" });
  }
  if ((mode === "promote" || mode === "rollback" || mode === "set-weight") && !current.canary) {
    throw new RecshipError(`deploy mode ${mode} needs a running canary, and there is none`, { fix: "start one with mode canary" });
  }
  if (mode === "direct" && current.canary) {
    throw new RecshipError("a canary is running; a direct deploy would leave it orphaned", {
      fix: "promote or roll back the canary first",
    });
  }
}

export const DEFAULT_CANARY_WEIGHT = 10;
