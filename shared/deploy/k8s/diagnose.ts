import type { KubeClient, KubeObject } from "./client.js";

interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string; message?: string };
    terminated?: { reason?: string; exitCode?: number; message?: string };
    running?: object;
  };
  lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } };
}

interface PodShape {
  metadata: { name: string; labels?: Record<string, string> };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

/** What is wrong with one container of a pod, from its status. */
export interface ContainerProblem {
  pod: string;
  container: string;
  init: boolean;
  /** waiting / terminated reason (ImagePullBackOff, CrashLoopBackOff, Error...) or "NotReady". */
  reason: string;
  message?: string;
  restarts: number;
  /** The termination message of the last failed run (the init containers write why they failed). */
  lastFailure?: string;
}

/** Reasons that never clear up by waiting. */
const FATAL_AT_ONCE = new Set(["InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"]);
/** Reasons that may be transient (a registry hiccup): fatal once they persist. */
const FATAL_WHEN_PERSISTENT = new Set(["ImagePullBackOff", "ErrImagePull"]);
/** A crash loop is fatal after this many restarts. */
const CRASH_RESTARTS = 2;

export function containerProblems(pod: KubeObject): ContainerProblem[] {
  const p = pod as unknown as PodShape;
  const out: ContainerProblem[] = [];
  const visit = (statuses: ContainerStatus[] | undefined, init: boolean) => {
    for (const s of statuses ?? []) {
      const restarts = s.restartCount ?? 0;
      const last = s.lastState?.terminated;
      const lastFailure =
        last && last.exitCode !== 0 ? last.message?.trim() || `${last.reason ?? "exited"} with code ${last.exitCode}` : undefined;
      const base = { pod: p.metadata.name, container: s.name, init, restarts, ...(lastFailure ? { lastFailure } : {}) };
      if (s.state?.waiting?.reason && s.state.waiting.reason !== "PodInitializing" && s.state.waiting.reason !== "ContainerCreating") {
        out.push({ ...base, reason: s.state.waiting.reason, ...(s.state.waiting.message ? { message: s.state.waiting.message } : {}) });
      } else if (s.state?.terminated && s.state.terminated.exitCode !== 0) {
        const t = s.state.terminated;
        out.push({ ...base, reason: t.reason ?? "Error", message: t.message?.trim() || `exit code ${t.exitCode}` });
      } else if (!init && s.state?.running && s.ready === false) {
        out.push({ ...base, reason: "NotReady", message: "running, but its readiness probe does not pass" });
      }
    }
  };
  visit(p.status?.initContainerStatuses, true);
  visit(p.status?.containerStatuses, false);
  return out;
}

/**
 * Whether a problem will not go away by waiting for the progress deadline. `polls` counts
 * the consecutive polls the same container showed the same reason.
 */
export function isFatal(problem: ContainerProblem, polls: number): boolean {
  if (FATAL_AT_ONCE.has(problem.reason)) return true;
  if (FATAL_WHEN_PERSISTENT.has(problem.reason)) return polls >= 3;
  if (problem.reason === "CrashLoopBackOff" || problem.reason === "Error") return problem.restarts >= CRASH_RESTARTS;
  return false;
}

export function describeProblem(p: ContainerProblem): string {
  const what = `pod ${p.pod}: ${p.init ? "init container" : "container"} ${p.container}`;
  const restarts = p.restarts ? ` (${p.restarts} restart${p.restarts === 1 ? "" : "s"})` : "";
  const message = p.message ? `: ${p.message}` : "";
  const last = p.lastFailure && p.lastFailure !== p.message ? `; last failure: ${p.lastFailure}` : "";
  return `${what} ${p.reason}${restarts}${message}${last}`;
}

interface EventShape {
  involvedObject?: { kind?: string; name?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  series?: { count?: number };
}

/** Warning events of the given objects, newest first, one line per reason and message. */
async function warningEvents(client: KubeClient, namespace: string, names: Set<string>, limit = 10): Promise<string[]> {
  const events = (await client.list("v1", "Event", namespace, { fieldSelector: "type=Warning" })) as unknown as EventShape[];
  const mine = events
    .filter((e) => e.involvedObject?.name && names.has(e.involvedObject.name))
    .sort((a, b) => (b.lastTimestamp ?? b.eventTime ?? "").localeCompare(a.lastTimestamp ?? a.eventTime ?? ""));
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const e of mine) {
    const key = `${e.reason}|${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const count = e.series?.count ?? e.count ?? 1;
    lines.push(
      `event ${e.reason ?? "?"} on ${e.involvedObject?.kind ?? "?"} ${e.involvedObject?.name}: ${e.message ?? ""}${count > 1 ? ` (×${count})` : ""}`,
    );
    if (lines.length >= limit) break;
  }
  return lines;
}

/**
 * Why a Deployment's rollout failed: the problems of its newest pods and the Warning events
 * of the Deployment, its ReplicaSets and those pods.
 */
export async function explainRollout(
  client: KubeClient,
  namespace: string,
  deployment: string,
  pods: KubeObject[],
  replicaSets: string[],
): Promise<string[]> {
  const problems = pods.flatMap(containerProblems);
  const lines = [...new Set(problems.map(describeProblem))].slice(0, 10);
  const podPhases = pods
    .filter((p) => (p as unknown as PodShape).status?.reason)
    .map(
      (p) => `pod ${p.metadata.name}: ${(p as unknown as PodShape).status?.reason}: ${(p as unknown as PodShape).status?.message ?? ""}`,
    );
  lines.push(...podPhases.slice(0, 3));
  const names = new Set([deployment, ...replicaSets, ...pods.map((p) => p.metadata.name)]);
  try {
    lines.push(...(await warningEvents(client, namespace, names)));
  } catch (error) {
    lines.push(`(the events could not be read: ${(error as Error).message})`);
  }
  if (lines.length === 0) lines.push("no pod reported a problem and there were no Warning events");
  return lines;
}
