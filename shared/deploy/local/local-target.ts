import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { openModelSource } from "../../bundle/model-source.js";
import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import {
  checkDeployRequest,
  DEFAULT_CANARY_WEIGHT,
  type DeployRequest,
  type DeployResult,
  type DeployStatus,
  type DeployTarget,
  type VariantStatus,
} from "../../rollout/target.js";
import { freePort } from "./free-port.js";
import { isRecshipProcess, logTail, sleep, startDaemon, stopProcess } from "./processes.js";
import { RouterAdmin } from "./router-admin.js";
import { readState, removeState, withStateLock, writeState, type LocalBackend, type LocalState } from "./state.js";
import type { RouteBackend, Routes } from "./traffic-router.js";

export interface LocalTargetOptions {
  /** The state file (ports, pids, versions, weight, the router's admin token). */
  state: string;
  /** argv that runs the recship CLI, e.g. [node, /path/dist/cli/index.js]. */
  command: string[];
  /** The router's port for new deployments (default 8080; 0: any free port). */
  port?: number;
  host?: string;
  /** Extra `recship serve` flags for every server started (e.g. --max-batch 32 --threads 1). */
  serveArgs?: string[];
  /** Model name the servers serve (default "recommender"). */
  modelName?: string;
  /** Longest wait for a new server to turn ready (default 120 s). */
  readyTimeoutMs?: number;
  /**
   * Ship a bundle whose files differ from the sha256s its bundle.json records (edited on
   * purpose): its servers run with --skip-bundle-checksums, also when it is promoted later.
   */
  skipBundleChecksums?: boolean;
  log: Logger;
}

/**
 * `target: local`: stable and canary are `recship serve` child processes behind a weighted
 * router on 127.0.0.1 (itself a `recship deploy-router` process). The processes outlive the
 * command; the state file lets the next command find them. Every switch starts the new server,
 * waits until it is ready, switches the router (which drains the old one), then stops the old.
 */
export class LocalTarget implements DeployTarget {
  readonly name = "local";
  private readonly statePath: string;
  private readonly logDir: string;

  constructor(private readonly options: LocalTargetOptions) {
    this.statePath = resolve(options.state);
    this.logDir = join(dirname(this.statePath), `${basename(this.statePath)}.logs`);
  }

  async deploy(request: DeployRequest): Promise<DeployResult> {
    const started = performance.now();
    return withStateLock(this.statePath, async () => {
      let state = await readState(this.statePath);
      const before = await this.describe(state);
      checkDeployRequest(request, before);
      if (request.bundle && (request.mode === "canary" || request.mode === "direct")) await this.checkBundle(request.bundle, request.model);
      state = await this.ensureRouter(state);
      const { log } = this.options;
      const admin = this.admin(state);
      switch (request.mode) {
        case "direct": {
          const next = await this.startServer("stable", request.bundle!, request.model, this.options.skipBundleChecksums);
          const old = state.stable;
          await this.switchOrStop(admin, { stable: next, weight: 0 }, next);
          state.stable = next;
          state.weight = 0;
          await writeState(this.statePath, state);
          if (old) await this.stopServer(old);
          break;
        }
        case "canary": {
          const next = await this.startServer("canary", request.bundle!, request.model, this.options.skipBundleChecksums);
          const old = state.canary;
          const weight = request.weight ?? DEFAULT_CANARY_WEIGHT;
          await this.switchOrStop(admin, { stable: state.stable, canary: next, weight }, next);
          state.canary = next;
          state.weight = weight;
          await writeState(this.statePath, state);
          if (old) await this.stopServer(old);
          break;
        }
        case "set-weight": {
          state.weight = request.weight!;
          await this.switchTo(admin, { stable: state.stable, canary: state.canary, weight: state.weight });
          await writeState(this.statePath, state);
          break;
        }
        case "rollback": {
          const old = state.canary!;
          await this.switchTo(admin, { stable: state.stable, weight: 0 });
          state.canary = undefined;
          state.weight = 0;
          await writeState(this.statePath, state);
          await this.stopServer(old);
          break;
        }
        case "promote": {
          // a fresh server labelled stable: every metric of the promoted model says "stable" from now on
          const canary = state.canary!;
          const next = await this.startServer("stable", canary.bundle, canary.model, canary.skipBundleChecksums);
          const old = state.stable;
          await this.switchOrStop(admin, { stable: next, weight: 0 }, next);
          state.stable = next;
          state.canary = undefined;
          state.weight = 0;
          await writeState(this.statePath, state);
          await this.stopServer(canary);
          if (old) await this.stopServer(old);
          break;
        }
      }
      const after = await this.describe(state);
      log.info(`deploy ${request.mode}: ${summary(after)}`);
      return { mode: request.mode, before, after, seconds: (performance.now() - started) / 1000 };
    });
  }

  async status(): Promise<DeployStatus> {
    return this.describe(await readState(this.statePath));
  }

  /** Stops the servers (draining) and the router, and removes the state file. */
  async teardown(): Promise<void> {
    await withStateLock(this.statePath, async () => {
      const state = await readState(this.statePath);
      if (!state) {
        this.options.log.info("nothing deployed (no state file)");
        return;
      }
      const admin = this.admin(state);
      if (await admin.alive()) await admin.setRoutes({ weight: 0 });
      for (const backend of [state.canary, state.stable]) if (backend) await this.stopServer(backend);
      const router = await stopProcess(state.router.pid);
      this.options.log.info(`router (pid ${state.router.pid}): ${router}`);
      await removeState(this.statePath);
    });
  }

  private admin(state: LocalState): RouterAdmin {
    return new RouterAdmin(`http://127.0.0.1:${state.router.adminPort}`, state.router.token);
  }

  /** The router from the state file if it still answers, else a new one (then no servers can be running behind it). */
  private async ensureRouter(state: LocalState | undefined): Promise<LocalState> {
    if (state && isRecshipProcess(state.router.pid) && (await this.admin(state).alive())) return state;
    if (state && (state.stable || state.canary)) {
      const live = [state.stable, state.canary].filter((b) => b && isRecshipProcess(b.pid));
      if (live.length) {
        throw new RecshipError(
          `the router (pid ${state.router.pid}) is gone but servers it routed to still run (pids ${live.map((b) => b!.pid).join(", ")})`,
          {
            where: this.statePath,
            fix: "run `recship deploy --target local --mode stop` with this --state, then deploy again",
          },
        );
      }
    }
    const host = this.options.host ?? "127.0.0.1";
    mkdirSync(this.logDir, { recursive: true });
    const port = state?.router.port ?? (this.options.port === 0 ? await freePort(host) : (this.options.port ?? 8080));
    const adminPort = await freePort();
    const token = randomBytes(24).toString("hex");
    const log = join(this.logDir, "router.log");
    const daemon = startDaemon(
      this.options.command,
      ["deploy-router", "--port", String(port), "--admin-port", String(adminPort), "--host", host],
      log,
      { ...process.env, RECSHIP_ROUTER_TOKEN: token },
    );
    const next: LocalState = { schema: 1, host, router: { port, adminPort, pid: daemon.pid, token, log }, weight: 0, updatedAt: "" };
    const admin = this.admin(next);
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 120_000);
    let exited: number | null | undefined;
    void daemon.exited.then((code) => (exited = code));
    while (!(await admin.alive())) {
      if (exited !== undefined || Date.now() > deadline) {
        await stopProcess(daemon.pid, 1_000);
        throw new RecshipError(
          `the router did not start (${exited !== undefined ? `exit code ${exited}` : "timed out"}):\n${logTail(log)}`,
          {
            where: log,
            fix: `check that port ${port} is free, or pass another --port`,
          },
        );
      }
      await sleep(100);
    }
    await writeState(this.statePath, next);
    this.options.log.info(`router on http://${host}:${port} (pid ${daemon.pid}, log ${log})`);
    return next;
  }

  /**
   * Refuses a bundle its servers would refuse (a file changed since bundle.json recorded it, a
   * path out of the bundle), before anything is started: the reason then reads plainly, not
   * as a server's log tail.
   */
  private async checkBundle(bundle: string, model: string | undefined): Promise<void> {
    await openModelSource(bundle, { model, role: "shipped", verifyChecksums: !this.options.skipBundleChecksums });
  }

  /** Starts `recship serve` for a variant and waits until it is ready; on failure stops it and says why. */
  private async startServer(
    variant: "stable" | "canary",
    bundle: string,
    model: string | undefined,
    skipBundleChecksums: boolean | undefined,
  ): Promise<LocalBackend> {
    const port = await freePort();
    const tag = `${variant[0]}${randomBytes(3).toString("hex")}`;
    const log = join(this.logDir, `${variant}-${tag}.log`);
    const args = [
      "serve",
      "--bundle",
      resolve(bundle),
      ...(model ? ["--model", resolve(model)] : []),
      ...(skipBundleChecksums ? ["--skip-bundle-checksums"] : []),
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--variant",
      variant,
      "--request-id-prefix",
      tag,
      ...(this.options.modelName ? ["--name", this.options.modelName] : []),
      ...(this.options.serveArgs ?? []),
    ];
    this.options.log.info(`starting ${variant} server for ${bundle} on 127.0.0.1:${port} (log ${log})`);
    const daemon = startDaemon(this.options.command, args, log);
    let exited: number | null | undefined;
    void daemon.exited.then((code) => (exited = code));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 120_000);
    for (;;) {
      if (exited !== undefined || Date.now() > deadline) {
        await stopProcess(daemon.pid, 5_000);
        throw new RecshipError(
          `the ${variant} server for ${bundle} did not become ready (${exited !== undefined ? `exit code ${exited}` : "timed out"}):\n${logTail(log)}`,
          { where: log, fix: "see the server's log above; nothing was switched" },
        );
      }
      try {
        const res = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    const meta = (await (await fetch(`${url}/v2/models/${this.options.modelName ?? "recommender"}`)).json()) as { versions: string[] };
    return {
      variant,
      tag,
      port,
      pid: daemon.pid,
      bundle: resolve(bundle),
      ...(model ? { model: resolve(model) } : {}),
      ...(skipBundleChecksums ? { skipBundleChecksums } : {}),
      version: meta.versions[0],
      log,
      startedAt: new Date().toISOString(),
    };
  }

  private async switchTo(admin: RouterAdmin, routes: { stable?: LocalBackend; canary?: LocalBackend; weight: number }): Promise<void> {
    const toRoute = (b: LocalBackend | undefined): RouteBackend | undefined =>
      b && { variant: b.variant, url: `http://127.0.0.1:${b.port}`, tag: b.tag, version: b.version };
    const next: Routes = { stable: toRoute(routes.stable), canary: toRoute(routes.canary), weight: routes.weight };
    const { drained, removed } = await admin.setRoutes(next);
    if (!drained) this.options.log.warn(`requests to ${removed.join(", ")} were still running when the drain timed out`);
  }

  /** Switches to routes that include the server just started; if the router refuses, that server is stopped again. */
  private async switchOrStop(
    admin: RouterAdmin,
    routes: { stable?: LocalBackend; canary?: LocalBackend; weight: number },
    started: LocalBackend,
  ): Promise<void> {
    try {
      await this.switchTo(admin, routes);
    } catch (error) {
      await this.stopServer(started);
      throw error;
    }
  }

  private async stopServer(backend: LocalBackend): Promise<void> {
    const outcome = await stopProcess(backend.pid);
    this.options.log.info(`${backend.variant} server ${backend.version} (pid ${backend.pid}): ${outcome}`);
  }

  private async describe(state: LocalState | undefined): Promise<DeployStatus> {
    if (!state) return { target: this.name, canaryWeight: 0 };
    const variant = async (b: LocalBackend | undefined): Promise<VariantStatus | undefined> => {
      if (!b) return undefined;
      let ready = false;
      if (isRecshipProcess(b.pid)) {
        try {
          ready = (await fetch(`http://127.0.0.1:${b.port}/v2/health/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200;
        } catch {
          ready = false;
        }
      }
      return { variant: b.variant, version: b.version, bundle: b.bundle, endpoint: `http://127.0.0.1:${b.port}`, ready };
    };
    const [stable, canary] = await Promise.all([variant(state.stable), variant(state.canary)]);
    return {
      target: this.name,
      endpoint: `http://${state.host}:${state.router.port}`,
      ...(stable ? { stable } : {}),
      ...(canary ? { canary } : {}),
      canaryWeight: canary ? state.weight : 0,
    };
  }
}

function summary(s: DeployStatus): string {
  const v = (x: VariantStatus | undefined) => (x ? `${x.version}${x.ready ? "" : " (not ready!)"}` : "none");
  return `stable ${v(s.stable)}, canary ${v(s.canary)}${s.canary ? ` at ${s.canaryWeight}%` : ""}, endpoint ${s.endpoint ?? "-"}`;
}
