// Trains a fixed number of steps on every tfjs backend that loads here and prints one JSON line
// per backend: backend, device, sequences/s, loss after the steps, and the largest difference of
// the first step's gradient from wasm's (the reference). Each backend runs in a child process
// (a process can hold one native backend). scripts/gpu-check.sh installs the GPU packages first.
//   npx tsx scripts/gpu-check.ts [--steps 20] [--data ../shared/datasets/amazon-beauty.seq.txt] [--format seq]
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "20" },
    data: { type: "string", default: "../shared/datasets/amazon-beauty.seq.txt" },
    format: { type: "string", default: "auto" },
    "user-col": { type: "string" },
    "item-col": { type: "string" },
    "time-col": { type: "string" },
    backends: { type: "string", default: "wasm,webgpu,gpu,node" },
    child: { type: "string" },
    reference: { type: "string" },
  },
});

interface Line {
  backend: string;
  available: boolean;
  device?: string;
  reason?: string;
  steps?: number;
  sequencesPerSecond?: number;
  lossAfterSteps?: number;
  /** max |g − g_wasm| over the first step's flat gradient, and relative to max |g_wasm|. */
  firstStepGradMaxDiff?: number;
  firstStepGradRelDiff?: number;
}

/** One backend: the first step's gradient (saved for wasm, compared otherwise), then timed steps. */
async function runBackend(backend: string): Promise<Line> {
  const { initBackend } = await import("../shared/model/backend.js");
  const { silentLogger } = await import("../shared/log.js");
  const { readInteractions } = await import("../shared/data/readers.js");
  const { leaveOneOut } = await import("../shared/data/split.js");
  const { loadConfig } = await import("../shared/model/config.js");
  const { epochBatches, trainingExamples } = await import("../shared/model/batches.js");
  const { drawLoss } = await import("../shared/model/losses.js");
  const { initialValues, paramSpecs } = await import("../shared/model/sasrec.js");
  const { ADAM_DEFAULTS, flatLayout } = await import("../shared/model/flat-params.js");
  const { LocalEngine } = await import("../shared/model/parallel/engine.js");
  const { sliceGradients } = await import("../shared/model/parallel/gradients.js");
  const { SasrecModel } = await import("../shared/model/sasrec-model.js");
  const { Rng } = await import("../shared/util/random.js");
  let info;
  try {
    info = await initBackend(backend as "wasm", silentLogger);
  } catch (error) {
    return { backend, available: false, reason: (error as Error).message.split("\n")[0] };
  }
  const read = await readInteractions(args.data!, {
    format: args.format as "auto",
    userColumn: args["user-col"],
    itemColumn: args["item-col"],
    timeColumn: args["time-col"],
  });
  const split = leaveOneOut(read.log);
  const config = loadConfig(undefined);
  const specs = paramSpecs(config.model, split.numItems);
  const values = initialValues(specs, 1);
  const rng = new Rng("gpu-check");
  const batches = epochBatches(trainingExamples(split.train, config.model.maxlen), config.train.batchTokens, rng);
  const inputs = batches.slice(0, Number(args.steps)).map((batch) => ({
    kind: "sasrec" as const,
    input: { batch, rowOffset: 0, draws: drawLoss(config.train, split.numItems, batch, rng) },
  }));
  // the first step's gradient, from the same weights and draws on every backend
  const layout = flatLayout(specs);
  const model = new SasrecModel(config.model, split.numItems, values);
  const grad = new Float32Array(layout.total);
  await sliceGradients(model.params, { model: config.model, train: config.train, numItems: split.numItems, layout }, inputs[0], grad);
  model.dispose();
  const line: Line = { backend, available: true, device: info.description };
  if (backend === "wasm") writeFileSync(args.reference!, Buffer.from(grad.buffer));
  else {
    const ref = new Float32Array(readFileSync(args.reference!).buffer.slice(0));
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(grad[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    line.firstStepGradMaxDiff = diff;
    line.firstStepGradRelDiff = diff / scale;
  }
  if (backend === "wasm") line.firstStepGradMaxDiff = 0;
  const engine = new LocalEngine({
    workers: 0,
    model: config.model,
    train: config.train,
    numItems: split.numItems,
    values,
    adam: { learningRate: config.train.learningRate, ...ADAM_DEFAULTS },
    backend: backend as "wasm",
    log: silentLogger,
  });
  await engine.step(inputs[0]); // warm-up: kernels compile on the first step
  const t0 = performance.now();
  let loss = 0;
  let sequences = 0;
  for (const input of inputs.slice(1)) {
    loss = await engine.step(input);
    sequences += input.input.batch.batch;
  }
  await engine.close();
  return { ...line, steps: inputs.length, sequencesPerSecond: sequences / ((performance.now() - t0) / 1000), lossAfterSteps: loss };
}

if (args.child) {
  process.stdout.write(`${JSON.stringify(await runBackend(args.child))}\n`);
  process.exit(0); // a GPU binding may hold the event loop open
} else {
  const dir = mkdtempSync(join(tmpdir(), "recship-gpu-check-"));
  const reference = join(dir, "wasm-gradient.bin");
  const passOn = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--backends") && all[i - 1] !== "--backends");
  try {
    for (const backend of ["wasm", ...args.backends!.split(",").filter((b) => b !== "wasm")]) {
      let line: Line;
      try {
        const { stdout } = await promisify(execFile)(
          process.execPath,
          [...process.execArgv, new URL(import.meta.url).pathname, ...passOn, "--child", backend, "--reference", reference],
          { maxBuffer: 16 << 20, timeout: 8 * 60_000 },
        );
        line = JSON.parse(stdout.trim().split("\n").pop()!) as Line;
      } catch (error) {
        line = { backend, available: false, reason: `the check crashed: ${(error as Error).message.split("\n")[0]}` };
      }
      process.stdout.write(`${JSON.stringify(line)}\n`);
      if (backend === "wasm" && !line.available) process.exitCode = 1; // no reference: nothing to compare with
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
