// Per-node time of an ONNX model in onnxruntime-node, from onnxruntime's own profiler: where a
// batch's time goes (the score Gemm, TopK, attention, quantize nodes...).
//   npx tsx scripts/profile-model.ts --model runs/beauty/model.onnx [--batch 64] [--runs 50] [--threads 1] [--fetch top_items,top_scores]
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { onnxRuntime } from "../shared/onnx/ort-runtime.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    batch: { type: "string", default: "64" },
    runs: { type: "string", default: "50" },
    threads: { type: "string", default: "1" },
    fetch: { type: "string", default: "top_items,top_scores" },
    maxlen: { type: "string", default: "50" },
    items: { type: "string", default: "12000" },
  },
});
if (!args.model) throw new Error("--model is required");
const ort = onnxRuntime();
const prefix = `recship-profile-${process.pid}`;
const session = await ort.InferenceSession.create(args.model, {
  intraOpNumThreads: Number(args.threads),
  interOpNumThreads: 1,
  enableProfiling: true,
  profileFilePrefix: join(tmpdir(), prefix),
  graphOptimizationLevel: "all",
});
const batch = Number(args.batch);
const maxlen = Number(args.maxlen);
const data = new BigInt64Array(batch * maxlen);
for (let i = 0; i < data.length; i++) data[i] = BigInt(1 + ((i * 7919) % Number(args.items)));
const feeds = { item_seq: new ort.Tensor("int64", data, [batch, maxlen]) };
const fetches = args.fetch!.split(",");
for (let i = 0; i < 5; i++) await session.run(feeds, fetches);
const t0 = performance.now();
for (let i = 0; i < Number(args.runs); i++) await session.run(feeds, fetches);
const perRun = (performance.now() - t0) / Number(args.runs);
session.endProfiling();
const profiles = readdirSync(tmpdir()).filter((f) => f.startsWith(prefix) && f.endsWith(".json"));
if (profiles.length === 0) throw new Error("onnxruntime wrote no profile");
const file = join(tmpdir(), profiles.sort().at(-1)!);
const events = JSON.parse(readFileSync(file, "utf8")) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
rmSync(file, { force: true });
const byNode = new Map<string, { op: string; us: number; n: number }>();
for (const e of events) {
  if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
  const name = e.name.replace(/_kernel_time$/, "");
  const entry = byNode.get(name) ?? { op: e.args?.op_name ?? "?", us: 0, n: 0 };
  entry.us += e.dur;
  entry.n++;
  byNode.set(name, entry);
}
const runs = Number(args.runs) + 5;
const rows = [...byNode.entries()]
  .map(([name, v]) => ({ name, op: v.op, msPerRun: v.us / runs / 1000 }))
  .sort((a, b) => b.msPerRun - a.msPerRun);
const total = rows.reduce((a, r) => a + r.msPerRun, 0);
console.log(
  `batch ${batch}, ${args.threads} thread(s), fetch ${fetches.join("+")}: ${perRun.toFixed(3)} ms/run wall, ${total.toFixed(3)} ms in kernels`,
);
for (const r of rows.slice(0, 15)) console.log(`${r.msPerRun.toFixed(3).padStart(8)} ms  ${r.op.padEnd(22)} ${r.name}`);
