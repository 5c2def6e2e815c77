import { readFileSync, writeFileSync, truncateSync, copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../shared/model/config.js";
import { loadBundle, readManifest } from "../shared/bundle/bundle-io.js";
import { trainModel } from "../shared/train/train-model.js";
import { silentLogger } from "../shared/log.js";
import { RECSHIP_VERSION } from "../shared/version.js";
import { syntheticCsv, TINY_CONFIG } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

describe("config", () => {
  it("merges inline YAML over the defaults", () => {
    const c = loadConfig("model:\n  hidden: 32\n  blocks: 3\ntrain:\n  loss: ce");
    expect(c.model.hidden).toBe(32);
    expect(c.model.ffnDim).toBe(32);
    expect(c.model.blocks).toBe(3);
    expect(c.train.loss).toBe("ce");
  });

  it("names an unknown key, a bad value and an impossible head count", () => {
    expect(() => loadConfig("model:\n  hiden: 32")).toThrow(/unknown key "hiden" under model/);
    expect(() => loadConfig("train:\n  loss: mse")).toThrow(/train\.loss must be equal to one of the allowed values/);
    expect(() => loadConfig("model:\n  hidden: 30\n  heads: 4")).toThrow(/must be divisible by model\.heads/);
    expect(() => loadConfig("model: [1, 2")).toThrow(/not valid YAML/);
  });

  it("keeps shared/version.ts equal to package.json", () => {
    expect(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version).toBe(RECSHIP_VERSION);
  });
});

describe("model bundle", () => {
  const dir = tempDir();
  let bundle = "";
  beforeAll(async () => {
    const csv = await syntheticCsv(dir, 300, 3);
    bundle = (
      await trainModel({ ...csv, out: join(dir, "b"), config: TINY_CONFIG, overrides: { train: { epochs: 1 } }, log: silentLogger })
    ).bundle;
  });
  const copy = (name: string) => {
    const to = join(dir, name);
    mkdirSync(to);
    for (const f of readdirSync(bundle)) copyFileSync(join(bundle, f), join(to, f));
    return to;
  };
  const editManifest = (b: string, edit: (m: Record<string, any>) => void) => {
    const p = join(b, "bundle.json");
    const m = JSON.parse(readFileSync(p, "utf8"));
    edit(m);
    writeFileSync(p, JSON.stringify(m));
  };

  it("round-trips: the manifest validates and weights load with their checksum", async () => {
    const loaded = await loadBundle(bundle);
    expect(loaded.weights.get("item_emb")!.length).toBe((loaded.manifest.vocabulary.items + 1) * 32);
    expect(loaded.itemIds.length).toBe(loaded.manifest.vocabulary.items + 1);
  });

  it("names the bad field of a damaged manifest", async () => {
    const b = copy("bad-field");
    editManifest(b, (m) => (m.weights.tensors[0].shape = "big"));
    await expect(readManifest(b)).rejects.toThrow(/invalid bundle manifest: field weights\.tensors\.0\.shape must be array/);
    const c = copy("missing-field");
    editManifest(c, (m) => delete m.data.sha256);
    await expect(readManifest(c)).rejects.toThrow(/missing field "sha256" in data/);
  });

  it("refuses a bundle from a newer schema with an upgrade hint", async () => {
    const b = copy("newer");
    editManifest(b, (m) => (m.schemaVersion = 99));
    await expect(readManifest(b)).rejects.toThrow(/newer recship \(schema version 99.*upgrade recship/);
  });

  it("detects a truncated or altered weights file", async () => {
    const t = copy("truncated");
    truncateSync(join(t, "weights.bin"), 100);
    await expect(loadBundle(t)).rejects.toThrow(/weights file is truncated: 100 bytes/);
    const a = copy("altered");
    const w = readFileSync(join(a, "weights.bin"));
    w[w.length - 1] ^= 0xff;
    writeFileSync(join(a, "weights.bin"), w);
    await expect(loadBundle(a)).rejects.toThrow(/does not match the checksum/);
  });

  it("says plainly when a folder is not a bundle", async () => {
    await expect(readManifest(dir)).rejects.toThrow(/no bundle\.json in .*not a recship model bundle/);
  });
});
