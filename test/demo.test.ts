import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isRecshipProcess } from "../shared/deploy/local/processes.js";
import { readState } from "../shared/deploy/local/state.js";
import { Cleanup } from "../shared/demo/cleanup.js";
import type { DemoReport } from "../shared/demo/demo-report.js";
import { DEMO_DEFAULTS, demoSettings } from "../shared/demo/demo-settings.js";
import { RecshipError } from "../shared/errors.js";
import { memoryLogger } from "../shared/log.js";
import { svgBarChart } from "../shared/report/svg-chart.js";
import { spawnRecship, type ChildServer } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * `recship demo` end to end, scaled down (800 shoppers, 4 epochs, 4 s intervals), twice on the
 * same folder: the second run gates against the first run's stored baseline and canaries
 * against the model the first run promoted. No timing assertions.
 */
const dir = tempDir("recship-demo-");
const out = join(dir, "demo");
const statePath = join(out, "deploy", "local-deploy.json");
const args = ["demo", "--out", out, "--users", "800", "--epochs", "4", "--interval", "4", "--rate", "150"];
const runs: { code: number | null; output: string; report: DemoReport; html: string }[] = [];
let child: ChildServer | undefined;

async function runDemoOnce(): Promise<(typeof runs)[number]> {
  child = spawnRecship([...args, "--warmup-requests", "300", "--warmup", "20"]);
  const code = await child.exited;
  const output = child.output();
  child = undefined;
  const report = JSON.parse(readFileSync(join(out, "demo-report.json"), "utf8")) as DemoReport;
  const html = readFileSync(join(out, "demo-report.html"), "utf8");
  return { code, output, report, html };
}

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

afterAll(async () => {
  // a failed run must not leave servers behind for the rest of the suite
  if (child) {
    child.child.kill("SIGINT");
    await child.exited;
  }
  const state = await readState(statePath).catch(() => undefined);
  for (const pid of [state?.router.pid, state?.stable?.pid, state?.canary?.pid])
    if (pid && isRecshipProcess(pid)) process.kill(pid, "SIGKILL");
});

describe("recship demo", () => {
  it("runs the whole chain twice: the second run gates against the first's baseline and canaries against its promoted model", async () => {
    runs.push(await runDemoOnce());
    runs.push(await runDemoOnce());
    const [first, second] = runs;
    for (const run of runs) {
      expect(run.code, run.output).toBe(0);
      expect(run.output.trimEnd().split("\n").at(-1)).toBe("verdict: promoted");
      const r = run.report;
      for (const key of [
        "validate",
        "train",
        "convert",
        "compress",
        "gate",
        "deploy",
        "monitor",
        "verdict",
        "timings",
        "traffic",
      ] as const) {
        expect(r[key], key).toBeTruthy();
      }
      expect(r.verdict).toMatchObject({ outcome: "promoted", promoted: true, decidedBy: "monitor-canary" });
      expect(r.monitor!.verdict).toBe("promoted");
      expect(r.monitor!.source.kind).toBe("scrape");
      expect(r.compress!.chosen).not.toBeNull();
      expect(r.deploy!.canary.artifact).toBe(`compressed/${r.compress!.chosen!.method}`);
      expect(r.traffic!.recommendations).toBeGreaterThan(0);
      expect(r.traffic!.feedbackEvents).toBeGreaterThan(0);
      // validate-data ran as its own step before training, and training used its report
      expect(r.validate).toMatchObject({ passed: true, errors: 0 });
      expect(r.validate!.rows).toBeGreaterThan(0);
      expect(r.train!.dataChecks).toMatchObject({ passed: true, headline: r.validate!.headline });
      expect(run.output).toMatch(/\[2\/10\] validate-data: /);
      expect(run.output).toMatch(/^data: the data passes/m);
      expect(existsSync(join(out, "reports", "validate.md"))).toBe(true);
      for (const step of ["validate", "train", "convert", "compress", "gate", "deploy", "monitor", "total"] as const) {
        expect(r.timings[step], step).toBeGreaterThan(0);
      }
    }
    expect(first.report.run).toBe(1);
    expect(second.report.run).toBe(2);

    // the data: the second run is checked for drift against the first run's (the same seeded shop: none)
    expect(first.report.validate!.drift).toBeUndefined();
    expect(second.report.validate!.drift?.baseline).toBe(join(out, "bundle", "data-profile.json"));
    expect(second.report.validate!.checks.filter((c) => c.group === "drift" && c.status === "warn")).toEqual([]);
    expect(second.report.gate!.dataDrift?.drifted).toEqual([]);

    // the gate: a first run without a baseline stores one; the second compares with it
    expect(first.report.gate).toMatchObject({ verdict: "no-baseline", passed: true, saved: { saved: true } });
    expect(first.report.gate!.baseline).toBeUndefined();
    expect(second.report.gate!.verdict).toBe("pass");
    expect(second.report.gate!.baseline?.origin).toContain(join(out, "baselines"));
    expect(second.report.gate!.baseline?.sha256).toBe(first.report.gate!.candidate.sha256);

    // the deployment: stable is the fp32 export first, then the model the first run promoted
    expect(first.report.deploy!.stable.origin).toBe("this-run-fp32");
    const promoted = first.report.verdict.promotedModel!;
    expect(promoted.version).toBe(first.report.deploy!.canary.version);
    expect(second.report.deploy!.stable).toMatchObject({ origin: "previous-promoted", bundle: promoted.bundle, version: promoted.version });
    expect(second.report.verdict.promotedModel!.version).toBe(second.report.deploy!.canary.version);

    // the HTML: self-contained, every section, charts
    for (const { html } of runs) {
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
      expect(html).not.toMatch(/<link\b|@import|url\(/i);
      for (const id of ["overview", "validate", "train", "convert", "compress", "gate", "explain", "deploy", "monitor", "timings"])
        expect(html).toContain(`<section id="${id}">`);
      expect((html.match(/<svg\b/g) ?? []).length).toBeGreaterThanOrEqual(4);
    }
    expect(second.html).toContain("previous run&#39;s promoted model");

    // explanations: a few shoppers, each recommendation with the purchases behind it, in the HTML
    for (const { report, html } of runs) {
      const e = report.explanations!;
      expect(e.shoppers.length).toBe(3);
      expect(e.modelVersion).toBe(report.deploy!.canary.version);
      for (const s of e.shoppers) for (const x of s.explanations) expect(x.because.length).toBeGreaterThan(0);
      const c = e.shoppers[0].explanations[0].because[0];
      expect(html).toContain(`${c.item} (purchase ${c.history_index + 1}, `);
    }

    // nothing left running: every process the runs started is gone and its port closed
    expect(existsSync(statePath)).toBe(false);
    for (const { report } of runs) {
      expect(report.deploy!.allStopped).toBe(true);
      const processes = report.deploy!.processes;
      expect(processes.map((p) => p.role)).toEqual(expect.arrayContaining(["router", "stable", "canary"]));
      for (const p of processes) {
        expect(isRecshipProcess(p.pid), `${p.role} pid ${p.pid}`).toBe(false);
        expect(await listening(p.port), `${p.role} port ${p.port}`).toBe(false);
      }
    }
  }, 300_000);
});

describe("demo building blocks", () => {
  it("checks its settings before touching anything, naming the option", () => {
    expect(demoSettings({})).toEqual(DEMO_DEFAULTS);
    expect(demoSettings({ users: 800, out: "x" } as never)).not.toHaveProperty("out");
    for (const [bad, message] of [
      [{ users: 10 }, /--users must be a whole number of at least 50/],
      [{ epochs: 1.5 }, /--epochs/],
      [{ rate: -1 }, /--rate/],
      [{ maxNdcgDrop: 1 }, /--max-ndcg-drop/],
      [{ methods: ["int8-dynamic+int8-qdq"] }, /quantize the same weights/],
      [{ steps: [50, 25, 100] }, /must rise/],
      [{ checks: "builtins: 3" }, /invalid checks/],
    ] as const) {
      expect(() => demoSettings(bad as never)).toThrow(RecshipError);
      expect(() => demoSettings(bad as never)).toThrow(message);
    }
  });

  it("cleans up newest first, each task once, past a failing one", async () => {
    const log = memoryLogger();
    const cleanup = new Cleanup(log);
    const order: string[] = [];
    cleanup.add("servers", async () => void order.push("servers"));
    cleanup.add("broken", async () => {
      throw new Error("boom");
    });
    cleanup.add("shoppers", async () => void order.push("shoppers"));
    await Promise.all([cleanup.run(), cleanup.run()]);
    await cleanup.run();
    expect(order).toEqual(["shoppers", "servers"]);
    expect(log.warnings).toEqual(["cleanup: broken failed (boom)"]);
  });

  it("escapes chart labels", () => {
    const svg = svgBarChart({ title: '<script>"x"</script>', yLabel: "y", bars: [{ label: "<b>&", value: 1 }] });
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("&lt;b&gt;&amp;");
  });
});
