import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { UMBRELLA_STEPS } from "../actions/umbrella-steps.js";

const root = new URL("..", import.meta.url).pathname;
const dist = join(root, "dist");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const actionDirs = readdirSync(join(root, "actions")).filter((name) => existsSync(join(root, "actions", name, "action.yml")));

describe("dist/ layout: one shared bundle, a stub per entry", () => {
  it("every action.yml runs a stub that names its own action and imports the shared bundle", () => {
    expect(actionDirs.length).toBe(8);
    for (const name of actionDirs) {
      const action = parse(readFileSync(join(root, "actions", name, "action.yml"), "utf8"));
      expect(action.runs.using).toBe("node24");
      const main = resolve(root, "actions", name, action.runs.main);
      expect(main).toBe(join(dist, name, "index.js"));
      const stub = readFileSync(main, "utf8");
      expect(stub).toContain(`globalThis.RECSHIP_ENTRY = "${name}";`);
      expect(stub).toContain('await import("../recship/index.js");');
    }
    const umbrella = parse(readFileSync(join(root, "action.yml"), "utf8"));
    expect(readFileSync(join(root, umbrella.runs.main), "utf8")).toContain('globalThis.RECSHIP_ENTRY = "umbrella";');
    expect(readFileSync(join(dist, "cli", "index.js"), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n[\s\S]*RECSHIP_ENTRY = "cli"/);
  });

  it("the umbrella's step names are the ones its action.yml documents, each mapped to an action folder", () => {
    const umbrella = parse(readFileSync(join(root, "action.yml"), "utf8"));
    const documented = /Which step to run: (.*)$/.exec(umbrella.inputs.step.description)![1].split(", ");
    expect([...documented].sort()).toEqual(Object.keys(UMBRELLA_STEPS).sort());
    expect(Object.values(UMBRELLA_STEPS).sort()).toEqual([...actionDirs].sort());
  });

  it("is ES modules, pure JS + the two tfjs .wasm files: no native runtime, nothing huge", () => {
    expect(JSON.parse(readFileSync(join(dist, "package.json"), "utf8"))).toEqual({ type: "module" });
    const all = files(dist);
    const native = all.filter((f) => /\.(node|so|dylib|dll)$/.test(f) || /onnxruntime/.test(f));
    expect(native).toEqual([]);
    const wasm = all.filter((f) => f.endsWith(".wasm")).map((f) => f.slice(dist.length + 1));
    expect(wasm.sort()).toEqual(["recship/tfjs-backend-wasm-simd.wasm", "recship/tfjs-backend-wasm.wasm"]);
    const total = all.reduce((n, f) => n + statSync(f).size, 0);
    // one copy of tfjs and the Kubernetes client: ~11 MB (it was 45 MB as seven bundles)
    expect(total).toBeLessThan(20 * 1024 * 1024);
    for (const f of all.filter((x) => x.endsWith(".js") && dirname(x).endsWith("recship"))) {
      // minified: no chunk keeps webpack's pretty-printed module comments
      expect(readFileSync(f, "utf8")).not.toContain("/***/");
    }
  });

  it("dist/licenses.txt names the bundled packages' licences and not the external native runtimes", () => {
    const text = readFileSync(join(dist, "licenses.txt"), "utf8");
    for (const pkg of [
      "@tensorflow/tfjs-core",
      "@tensorflow/tfjs-backend-wasm",
      "@kubernetes/client-node",
      "prom-client",
      "yaml",
      "@actions/core",
    ]) {
      expect(text).toMatch(new RegExp(`^${pkg.replace(/[/.]/g, "\\$&")}\\n`, "m"));
    }
    expect(text).not.toMatch(/^onnxruntime-node$/m);
    expect(text).not.toMatch(/^@tensorflow\/tfjs-node/m);
  });
});
