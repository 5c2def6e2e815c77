import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../shared/cli/main.js";
import { LocalTarget } from "../shared/deploy/local/local-target.js";
import { isRecshipProcess } from "../shared/deploy/local/processes.js";
import type { LocalState } from "../shared/deploy/local/state.js";
import { isRecshipError } from "../shared/errors.js";
import { memoryLogger } from "../shared/log.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { postJson, recshipCommand } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-deploy-local-");
const statePath = join(root, "state", "deploy.json");
let v1: ServeBundle;
let v2: ServeBundle;
const log = memoryLogger();
const target = new LocalTarget({
  state: statePath,
  command: recshipCommand(),
  port: 0,
  readyTimeoutMs: 90_000,
  log,
  serveArgs: ["--max-delay-ms", "1"],
});
/** Every pid the state file ever named: stopped at the end whatever happens. */
const seenPids = new Set<number>();

function recordPids(): void {
  if (!existsSync(statePath)) return;
  const s = JSON.parse(readFileSync(statePath, "utf8")) as LocalState;
  for (const pid of [s.router.pid, s.stable?.pid, s.canary?.pid]) if (pid) seenPids.add(pid);
}

beforeAll(async () => {
  v1 = await buildServeBundle(root, 11);
  v2 = await buildServeBundle(root, 12);
});

afterAll(async () => {
  recordPids();
  await target.teardown().catch(() => {});
  for (const pid of seenPids) if (isRecshipProcess(pid)) process.kill(pid, "SIGKILL");
});

interface Sample {
  phaseAtStart: number;
  phaseAtEnd: number;
  ok: boolean;
  error?: string;
  version?: string;
  variant?: string;
}

/** A few clients sending /v1/recommend (and feedback for some answers) through the router until stopped. */
function lightLoad(endpoint: string, items: string[], phase: () => number) {
  const samples: Sample[] = [];
  const feedback: { ok: boolean; sameVersion: boolean; samePhase: boolean; error?: string }[] = [];
  let running = true;
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const start = phase();
      const history = [items[(w * 31 + i * 7) % items.length], items[(i * 13) % items.length]];
      try {
        const res = await postJson(`${endpoint}/v1/recommend`, { items: history, k: 5 });
        const sample: Sample = {
          phaseAtStart: start,
          phaseAtEnd: phase(),
          ok: res.status === 200,
          version: res.body?.model?.version,
          variant: res.body?.model?.variant,
        };
        if (!sample.ok) sample.error = `${res.status} ${JSON.stringify(res.body)}`;
        samples.push(sample);
        if (sample.ok && i % 4 === 0) {
          const fbPhase = phase();
          const fb = await postJson(`${endpoint}/v1/feedback`, {
            request_id: res.body.request_id,
            item: res.body.items[0],
            event: "click",
          });
          feedback.push({
            ok: fb.status === 202,
            sameVersion: fb.body?.model?.version === sample.version && fb.body?.outcome === "recommended",
            samePhase: start % 2 === 0 && fbPhase === start && phase() === start,
            ...(fb.status === 202 ? {} : { error: `${fb.status} ${JSON.stringify(fb.body)}` }),
          });
        }
      } catch (error) {
        samples.push({ phaseAtStart: start, phaseAtEnd: phase(), ok: false, error: String((error as Error).cause ?? error) });
      }
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  const workers = [0, 1, 2].map(worker);
  return {
    samples,
    feedback,
    /** Resolves once at least `n` answers came back since the call. */
    async atLeast(n: number) {
      const goal = samples.length + n;
      while (samples.length < goal) await new Promise((r) => setTimeout(r, 20));
    },
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

describe("local target", () => {
  it("refuses modes the current state does not allow, before starting anything", async () => {
    const empty = new LocalTarget({ state: join(root, "none.json"), command: recshipCommand(), log: memoryLogger() });
    for (const [request, message] of [
      [{ mode: "canary", bundle: "x" }, /no stable model to run a canary beside/],
      [{ mode: "promote" }, /promote needs a running canary/],
      [{ mode: "rollback" }, /rollback needs a running canary/],
      [{ mode: "direct" }, /direct needs the bundle/],
      [{ mode: "set-weight", weight: 150 }, /from 0 to 100, got 150/],
    ] as const) {
      const error = await empty.deploy(request).catch((e: unknown) => e);
      expect(isRecshipError(error), String(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    expect(existsSync(join(root, "none.json"))).toBe(false);
  });

  it("canary → promote → canary → rollback under constant light load with no failed request", async () => {
    const first = await target.deploy({ mode: "direct", bundle: v1.dir });
    recordPids();
    const endpoint = first.after.endpoint!;
    const ver1 = first.after.stable!.version;
    expect(first.after.stable!.ready).toBe(true);

    let phase = 0;
    const load = lightLoad(endpoint, v1.items, () => phase);
    try {
      await load.atLeast(15); // phase 0: v1 alone

      phase = 1; // switching: answers may come from either side
      const canary = await target.deploy({ mode: "canary", bundle: v2.dir, weight: 30 });
      recordPids();
      phase = 2;
      const ver2 = canary.after.canary!.version;
      expect(ver2).not.toBe(ver1);
      expect(canary.after).toMatchObject({
        stable: { version: ver1, ready: true },
        canary: { version: ver2, ready: true },
        canaryWeight: 30,
      });
      await load.atLeast(30);

      phase = 3; // switching: answers may come from either side
      const promoted = await target.deploy({ mode: "promote" });
      recordPids();
      phase = 4;
      expect(promoted.after.stable).toMatchObject({ version: ver2, variant: "stable", ready: true });
      expect(promoted.after.canary).toBeUndefined();
      await load.atLeast(20);

      phase = 5; // switching: answers may come from either side
      const canary2 = await target.deploy({ mode: "canary", bundle: v1.dir, weight: 50 });
      recordPids();
      phase = 6;
      expect(canary2.after).toMatchObject({ stable: { version: ver2 }, canary: { version: ver1 }, canaryWeight: 50 });
      await load.atLeast(20);

      phase = 7; // switching: answers may come from either side
      const rolledBack = await target.deploy({ mode: "rollback" });
      phase = 8;
      expect(rolledBack.after).toMatchObject({ stable: { version: ver2 }, canaryWeight: 0 });
      expect(rolledBack.after.canary).toBeUndefined();
      await load.atLeast(15);
    } finally {
      await load.stop();
    }

    const routerMetrics = await (await fetch(`${endpoint}/metrics`)).text();
    expect(routerMetrics).not.toMatch(/recship_router_upstream_errors_total\{[^}]*kind="failed"/);
    const failed = load.samples.filter((s) => !s.ok);
    expect(failed).toEqual([]);
    expect(load.feedback.filter((f) => !f.ok)).toEqual([]);
    // within a phase, every answer came from the variants that phase routes to
    const within = (p: number) => load.samples.filter((s) => s.phaseAtStart === p && s.phaseAtEnd === p);
    const versions = (p: number) => new Set(within(p).map((s) => `${s.variant}:${s.version}`));
    const ver2 = load.samples.find((s) => s.version !== ver1)!.version;
    expect(versions(0)).toEqual(new Set([`stable:${ver1}`]));
    expect(versions(2)).toEqual(new Set([`stable:${ver1}`, `canary:${ver2}`]));
    expect(versions(4)).toEqual(new Set([`stable:${ver2}`]));
    expect(versions(6)).toEqual(new Set([`stable:${ver2}`, `canary:${ver1}`]));
    expect(versions(8)).toEqual(new Set([`stable:${ver2}`]));
    // the load went on during every switch
    for (const p of [1, 3, 5, 7]) expect(load.samples.filter((s) => s.phaseAtStart === p).length).toBeGreaterThan(0);
    // smooth weighted round-robin: 30 % canary, give or take the other clients' interleaving
    const canaryShare = within(2).filter((s) => s.variant === "canary").length / within(2).length;
    expect(canaryShare).toBeGreaterThan(0.15);
    expect(canaryShare).toBeLessThan(0.45);
    // feedback reached the server that answered (it knew the request id and the item), outside the switches
    const steady = load.feedback.filter((f) => f.samePhase);
    expect(steady.length).toBeGreaterThan(10);
    expect(steady.filter((f) => !f.sameVersion)).toEqual([]);
    // no process of a finished variant is left running
    const state = JSON.parse(readFileSync(statePath, "utf8")) as LocalState;
    const live = [...seenPids].filter((pid) => isRecshipProcess(pid));
    expect(live.sort()).toEqual([state.router.pid, state.stable!.pid].sort());
  });

  it("reports status and stops everything from the CLI", async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await main(["deploy", "--target", "local", "--mode", "status", "--state", statePath])).toBe(0);
      const status = JSON.parse(out.join(""));
      expect(status).toMatchObject({ target: "local", stable: { variant: "stable", ready: true }, canaryWeight: 0 });
      expect(await main(["deploy", "--target", "local", "--mode", "stop", "--state", statePath])).toBe(0);
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
    expect(existsSync(statePath)).toBe(false);
    expect([...seenPids].filter((pid) => isRecshipProcess(pid))).toEqual([]);
  });
});
