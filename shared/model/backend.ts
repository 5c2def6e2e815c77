import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { registerMissingWasmKernels } from "./wasm-kernels.js";

export const BACKEND_PREFERENCES = ["auto", "gpu", "node", "webgpu", "wasm", "cpu"] as const;
export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];

export interface BackendInfo {
  /** tfjs backend name: "tensorflow" (tfjs-node / tfjs-node-gpu), "webgpu", "wasm" or "cpu". */
  name: string;
  /** What was loaded, e.g. "@tensorflow/tfjs-node-gpu@4.22.0" or "wasm (simd)". */
  description: string;
}

/**
 * Where to look for a native tfjs-node(-gpu) install: a tool folder (RECSHIP_TFJS_NODE_DIR,
 * filled and cached by the train-model action), the working directory's node_modules,
 * then normal resolution.
 */
function resolveNative(pkg: string, toolDir?: string): string | undefined {
  const bases = [toolDir, process.cwd(), import.meta.url].filter(Boolean) as string[];
  for (const base of bases) {
    try {
      const req = createRequire(base.startsWith("file:") ? base : join(resolve(base), "noop.js"));
      return req.resolve(pkg);
    } catch {
      // not installed there
    }
  }
  return undefined;
}

async function tryNative(pkg: string, toolDir: string | undefined, log: Logger): Promise<BackendInfo | undefined> {
  const entry = resolveNative(pkg, toolDir);
  if (!entry) return undefined;
  try {
    const req = createRequire(entry);
    req(entry); // registers the "tensorflow" backend on the shared global tfjs engine
    if (await tf.setBackend("tensorflow")) {
      let version = "";
      try {
        version = (req(`${pkg}/package.json`) as { version: string }).version;
      } catch {
        // version unknown
      }
      return { name: "tensorflow", description: `${pkg}${version ? `@${version}` : ""}` };
    }
  } catch (error) {
    log.warn(`${pkg} is installed but failed to load (${(error as Error).message.split("\n")[0]}); falling back`);
  }
  return undefined;
}

/**
 * TensorFlow.js's WebGPU backend on Dawn's Node binding (the `webgpu` package): any GPU with a
 * Vulkan driver, no CUDA version to match. Both packages come from a tool folder
 * (RECSHIP_WEBGPU_DIR, see scripts/gpu-check.sh), the working directory or normal resolution;
 * the backend registers only if navigator.gpu exists when it loads, so the order matters.
 */
async function tryWebgpu(toolDir: string | undefined, log: Logger): Promise<BackendInfo | undefined> {
  const dawnEntry = resolveNative("webgpu", toolDir);
  const backendEntry = resolveNative("@tensorflow/tfjs-backend-webgpu", toolDir);
  if (!dawnEntry || !backendEntry) return undefined;
  try {
    const req = createRequire(dawnEntry);
    const dawn = req(dawnEntry) as { create(flags: string[]): { requestAdapter(): Promise<unknown> }; globals: object };
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    // Node ≥ 21 defines a getter-only navigator: replace it, keeping what it had
    const previous = (globalThis as { navigator?: object }).navigator ?? {};
    Object.defineProperty(globalThis, "navigator", { value: { ...previous, gpu }, writable: true, configurable: true });
    const adapter = (await gpu.requestAdapter()) as { info?: { vendor?: string; device?: string; description?: string } } | null;
    if (!adapter) {
      log.warn("webgpu: no GPU adapter (no Vulkan driver, or one Dawn rejects, e.g. Mesa lavapipe before 25); falling back");
      return undefined;
    }
    createRequire(backendEntry)(backendEntry);
    if (!(await tf.setBackend("webgpu"))) return undefined;
    const device = [adapter.info?.vendor, adapter.info?.description || adapter.info?.device].filter(Boolean).join(" ");
    return { name: "webgpu", description: `@tensorflow/tfjs-backend-webgpu on ${device || "an unnamed adapter"}` };
  } catch (error) {
    log.warn(`webgpu is installed but failed to start (${(error as Error).message.split("\n")[0]}); falling back`);
    return undefined;
  }
}

let active: BackendInfo | undefined;

// tfjs prints advice to stdout-like warnings unless in production mode; recship logs the backend itself
tf.env().set("PROD", true);

/** Picks and initialises the tfjs backend: tfjs-node-gpu, tfjs-node, wasm (SIMD), then cpu. */
export async function initBackend(
  preference: BackendPreference,
  log: Logger,
  options: { toolDir?: string; wasmDir?: string; webgpuDir?: string } = {},
): Promise<BackendInfo> {
  if (active && (preference === "auto" || active.name === backendNameFor(preference))) return active;
  const toolDir = options.toolDir ?? process.env.RECSHIP_TFJS_NODE_DIR;
  let info: BackendInfo | undefined;
  if (preference === "auto" || preference === "gpu") info = await tryNative("@tensorflow/tfjs-node-gpu", toolDir, log);
  if (!info && (preference === "auto" || preference === "node")) info = await tryNative("@tensorflow/tfjs-node", toolDir, log);
  if (!info && preference === "webgpu") {
    info = await tryWebgpu(options.webgpuDir ?? process.env.RECSHIP_WEBGPU_DIR, log);
    if (!info) {
      throw new RecshipError('backend "webgpu" was asked for but no WebGPU adapter could be started', {
        fix: 'install `webgpu` and `@tensorflow/tfjs-backend-webgpu` (scripts/gpu-check.sh does, into RECSHIP_WEBGPU_DIR) on a runner with a Vulkan driver, or use backend "auto"',
      });
    }
  }
  if (!info && (preference === "gpu" || preference === "node")) {
    throw new RecshipError(
      `backend "${preference}" was asked for but @tensorflow/tfjs-node${preference === "gpu" ? "-gpu" : ""} is not installed or failed to load`,
      {
        fix: 'install it on the runner (see README, "GPU runners") or use backend "auto"',
      },
    );
  }
  if (!info && preference !== "cpu") {
    // in an ncc bundle the .wasm files sit next to the bundle; from source, tfjs finds its own
    const besideUs = dirname(fileURLToPath(import.meta.url));
    // tfjs-backend-wasm's emscripten loader reads `__dirname`, which ES modules (our ncc
    // bundles) do not define; give it one so the loader can start
    const scope = globalThis as { __dirname?: string };
    scope.__dirname ??= besideUs;
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const wasmDir =
      options.wasmDir ?? process.env.RECSHIP_WASM_DIR ?? (existsSync(join(besideUs, "tfjs-backend-wasm-simd.wasm")) ? besideUs : undefined);
    if (wasmDir) wasm.setWasmPaths(wasmDir.endsWith("/") ? wasmDir : `${wasmDir}/`);
    registerMissingWasmKernels();
    try {
      if (!(await tf.setBackend("wasm"))) {
        log.warn("the wasm backend failed to initialise; falling back to the pure-JS cpu backend (about 25x slower)");
      } else {
        const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
        info = { name: "wasm", description: `@tensorflow/tfjs-backend-wasm (${simd ? "simd" : "no simd"})` };
      }
    } catch (error) {
      log.warn(`the wasm backend failed to start (${(error as Error).message}); falling back to the pure-JS cpu backend`);
    }
  }
  if (!info) {
    await tf.setBackend("cpu");
    info = { name: "cpu", description: "@tensorflow/tfjs-backend-cpu (pure JavaScript, slow)" };
  }
  await tf.ready();
  active = info;
  log.info(`tfjs backend: ${info.description}`);
  return info;
}

function backendNameFor(p: BackendPreference): string {
  return p === "gpu" || p === "node" ? "tensorflow" : p;
}

/** Reads a tensor's values and frees it; asynchronously, as WebGPU in Node cannot read synchronously. */
export async function readTensor(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}
