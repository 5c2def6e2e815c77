import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ActionsCacheBaselineStore } from "../actions/common/baseline-cache.js";
import { baselinePlan } from "../shared/cache/baseline-policy.js";
import { baselineKeyPrefix, type BaselineStore } from "../shared/cache/baseline-store.js";
import { LocalBaselineStore } from "../shared/cache/local-baseline-store.js";
import { convertBundle } from "../shared/convert/convert-bundle.js";
import { openBaseline, readBaselineRecord } from "../shared/gate/baseline-package.js";
import { openModelSource, pickArtifact } from "../shared/bundle/model-source.js";
import { gateWithBaseline } from "../shared/gate/pipeline.js";
import { DEFAULT_RULES } from "../shared/gate/rules.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { Rng } from "../shared/util/random.js";
import { writeTestBundle } from "./helpers/onnx-bundle.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-gate-baseline-");

async function fakeBaseline(name: string, content: string): Promise<string> {
  const d = join(dir, "src", name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, "marker.txt"), content);
  return d;
}

describe("local baseline store", () => {
  it("restores the newest baseline saved for a model and branch, and nothing for others", async () => {
    const store = new LocalBaselineStore(join(dir, "store-a"));
    expect(await store.restore({ model: "m", branch: "main" })).toBeUndefined();
    for (const v of ["one", "two", "three", "four"])
      expect((await store.save({ model: "m", branch: "main" }, await fakeBaseline(v, v))).saved).toBe(true);
    await store.save({ model: "m", branch: "main-old" }, await fakeBaseline("x", "other branch"));
    await store.save({ model: "other", branch: "main" }, await fakeBaseline("y", "other model"));
    const r = (await store.restore({ model: "m", branch: "main" }))!;
    expect(existsSync(join(r.dir, "marker.txt"))).toBe(true);
    expect(readdirSync(join(r.dir, ".."))).toHaveLength(3); // keeps the three newest
    expect(await import("node:fs").then((fs) => fs.readFileSync(join(r.dir, "marker.txt"), "utf8"))).toBe("four");
    expect(r.origin).toMatch(/m on main/);
    expect(await store.restore({ model: "m", branch: "feature/x" })).toBeUndefined();
  });

  it("keys branches so that none is a prefix of another", () => {
    expect(baselineKeyPrefix({ model: "m", branch: "main" })).toBe("recship-baseline-v1/m/main/");
    expect(baselineKeyPrefix({ model: "m", branch: "main-old" }).startsWith(baselineKeyPrefix({ model: "m", branch: "main" }))).toBe(false);
    expect(baselineKeyPrefix({ model: "a/b", branch: "feature/x" })).toBe("recship-baseline-v1/a%2Fb/feature%2Fx/");
  });
});

describe("actions cache baseline store", () => {
  it("does nothing, and says so, when the cache service is not available", async () => {
    const log = memoryLogger();
    const store = new ActionsCacheBaselineStore({ root: join(dir, "cache-root"), runId: "1", runAttempt: "1", log });
    expect(await store.restore({ model: "m", branch: "main" })).toBeUndefined();
    expect(log.warnings.join("\n")).toMatch(/cache is not available/);
    expect(await store.save({ model: "m", branch: "main" }, await fakeBaseline("c", "c"))).toMatchObject({ saved: false });
  });
});

describe("model file of a bundle", () => {
  const manifest = (artifacts: Record<string, Record<string, unknown>>) => ({ artifacts }) as unknown as Parameters<typeof pickArtifact>[0];
  const onnx = { file: "model.onnx", sha256: "a", bytes: 1, createdAt: "" };
  it("takes a compressed variant marked chosen, else the ONNX export", () => {
    expect(pickArtifact(manifest({ onnx }))?.name).toBe("onnx");
    expect(pickArtifact(manifest({ onnx, int8: { ...onnx, file: "model.int8.onnx", chosen: false } }))?.name).toBe("onnx");
    expect(pickArtifact(manifest({ onnx, int8: { ...onnx, file: "model.int8.onnx", chosen: true } }))?.artifact.file).toBe(
      "model.int8.onnx",
    );
    expect(pickArtifact(manifest({}))).toBeUndefined();
  });

  it("says how to fix a bundle that was never converted", async () => {
    const plain = (await writeTestBundle(join(dir, "unconverted"), { numItems: 10 })).dir;
    await expect(openModelSource(plain, { role: "candidate" })).rejects.toThrow(/candidate bundle has no ONNX model.*run convert-onnx/);
  });
});

describe("baseline policy", () => {
  it("compares pull requests with their base branch and never saves from them", () => {
    const p = baselinePlan({ eventName: "pull_request", pullRequest: 3, branch: "feat", baseBranch: "release" }, { saveBaseline: true });
    expect(p).toMatchObject({ compareBranches: ["release"], save: false });
    expect(p.reason).toMatch(/pull requests never store/);
  });

  it("saves from the baseline branch only, and only when asked", () => {
    expect(baselinePlan({ eventName: "push", branch: "main" }, { saveBaseline: true })).toMatchObject({
      compareBranches: ["main"],
      save: true,
      saveBranch: "main",
    });
    expect(baselinePlan({ eventName: "push", branch: "trunk", defaultBranch: "trunk" }, { saveBaseline: true }).save).toBe(true);
    expect(baselinePlan({ eventName: "push", branch: "main" }, { saveBaseline: false }).save).toBe(false);
    const feature = baselinePlan({ eventName: "workflow_dispatch", branch: "exp" }, { saveBaseline: true, baselineBranch: "main" });
    expect(feature).toMatchObject({ compareBranches: ["exp", "main"], save: false });
  });
});

describe("gate with a baseline store", () => {
  let bundle: string;
  let data: string;
  beforeAll(async () => {
    await initBackend("auto", silentLogger);
    bundle = (await writeTestBundle(join(dir, "bundle"), { numItems: 40, seed: 4 })).dir;
    await convertBundle({ bundle, randomSequences: 20, log: silentLogger });
    const rng = new Rng(5);
    const lines = Array.from(
      { length: 120 },
      (_, u) => `u${u} ${Array.from({ length: 3 + rng.int(12) }, () => `sku-${1 + rng.int(40)}`).join(" ")}`,
    );
    data = join(dir, "data.seq");
    writeFileSync(data, `${lines.join("\n")}\n`);
  });
  const rules = { ...structuredClone(DEFAULT_RULES), latency: { ...DEFAULT_RULES.latency, enabled: false } };

  it("passes as a first run when the store fails, with a warning in the report", async () => {
    const broken: BaselineStore = {
      description: "a broken store",
      restore: async () => {
        throw new Error("service unavailable");
      },
      save: async () => ({ saved: false, reason: "no" }),
    };
    const log = memoryLogger();
    const out = await gateWithBaseline({
      candidate: bundle,
      data,
      read: {},
      rules,
      log,
      modelName: "m",
      store: broken,
      compareBranches: ["main"],
      workDir: join(dir, "w1"),
    });
    expect(out.report.verdict).toBe("no-baseline");
    expect(out.report.warnings.join("\n")).toMatch(/could not restore the baseline .* service unavailable/);
    expect(log.warnings.join("\n")).toMatch(/service unavailable/);
  });

  it("fails without a baseline when one is required", async () => {
    await expect(
      gateWithBaseline({
        candidate: bundle,
        data,
        read: {},
        rules,
        log: silentLogger,
        modelName: "m",
        store: new LocalBaselineStore(join(dir, "empty")),
        compareBranches: ["main"],
        requireBaseline: true,
        workDir: join(dir, "w2"),
      }),
    ).rejects.toThrow(/no baseline to compare with/);
  });

  it("stores the ONNX model, vocabulary, manifest, evaluation and record, and opens it as a baseline", async () => {
    const store = new LocalBaselineStore(join(dir, "store-b"));
    const out = await gateWithBaseline({
      candidate: bundle,
      data,
      read: {},
      rules,
      log: silentLogger,
      modelName: "m",
      store,
      compareBranches: ["main"],
      save: { branch: "main" },
      commit: "abc",
      workDir: join(dir, "w3"),
    });
    expect(out.saved?.saved).toBe(true);
    const restored = (await store.restore({ model: "m", branch: "main" }))!;
    expect(readdirSync(restored.dir).sort()).toEqual([
      "bundle.json",
      "gate-baseline.json",
      "gate-evaluation.bin.gz",
      "items.txt",
      "model.onnx",
    ]);
    const record = (await readBaselineRecord(restored.dir))!;
    expect(record).toMatchObject({
      modelName: "m",
      branch: "main",
      commit: "abc",
      modelFile: "model.onnx",
      dataFingerprint: out.data.fingerprint,
      evaluationFile: "gate-evaluation.bin.gz",
    });
    expect(record.metrics?.["ndcg@10"]).toBeCloseTo(out.report.metrics.find((m) => m.name === "ndcg@10")!.candidate, 12);
    const opened = await openBaseline(restored.dir);
    expect(opened.source.sha256).toBe(out.candidate.sha256);
    expect(opened.source.artifact).toBe("stored baseline");
  });
});
