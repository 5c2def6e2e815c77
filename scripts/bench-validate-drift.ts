// The drift checks' false and true alarms on a real log (issue 18): 20 random 90 % subsamples of
// Amazon Beauty against the full log's profile (no drift: at most 1 alarm wanted), and 10 variants
// where 20 % of the interactions are moved to the 10 most popular items (10 alarms wanted).
// A subsample keeps 90 % of the users with their whole histories (--unit users, the default) or
// 90 % of the interactions (--unit rows, which also shortens every history).
//   npx tsx scripts/bench-validate-drift.ts [--data ../shared/datasets/amazon-beauty.seq.txt] [--unit users|rows] [--report bench/validate-drift.json]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { validateLog, type DataReport } from "../shared/data/quality/validate-log.js";
import { Rng } from "../shared/util/random.js";

const { values: args } = parseArgs({
  options: {
    data: { type: "string", default: "../shared/datasets/amazon-beauty.seq.txt" },
    unit: { type: "string", default: "users" },
    report: { type: "string" },
  },
});
const work = mkdtempSync(join(tmpdir(), "recship-drift-"));
const lines = readFileSync(args.data!, "utf8")
  .trim()
  .split("\n")
  .map((l) => l.trim().split(/\s+/));

function subsample(seed: number): string[][] {
  const rng = new Rng(seed);
  if (args.unit === "users") return lines.filter(() => rng.next() < 0.9);
  return lines.map(([user, ...items]) => [user, ...items.filter(() => rng.next() < 0.9)]).filter((l) => l.length > 1);
}

function shifted(seed: number, top: string[]): string[][] {
  const rng = new Rng(seed);
  return lines.map(([user, ...items]) => [user, ...items.map((item) => (rng.next() < 0.2 ? top[rng.int(top.length)] : item))]);
}

async function check(
  name: string,
  variant: string[][],
  baseline: DataReport,
): Promise<{ name: string; alarms: string[]; figures: Record<string, number> }> {
  const path = join(work, `${name}.seq.txt`);
  writeFileSync(path, `${variant.map((l) => l.join(" ")).join("\n")}\n`);
  const r = await validateLog({ data: path, format: "seq", baseline: { profile: baseline.profile, from: args.data! } });
  const drift = r.checks.filter((c) => c.group === "drift");
  const alarms = drift.filter((c) => c.status === "warn" || c.status === "error").map((c) => c.name);
  rmSync(path);
  return { name, alarms, figures: Object.fromEntries(drift.map((c) => [c.name, Number(c.value.toFixed(4))])) };
}

const started = performance.now();
const full = await validateLog({ data: args.data!, format: "seq" });
const top = full.profile.topItems.slice(0, 10).map(([id]) => id);
const runs: ({ kind: string } & Awaited<ReturnType<typeof check>>)[] = [];
for (let s = 1; s <= 20; s++) runs.push({ kind: "subsample-90%", ...(await check(`sub-${s}`, subsample(s), full)) });
for (let s = 1; s <= 10; s++) runs.push({ kind: "shift-20%-to-top-10", ...(await check(`shift-${s}`, shifted(100 + s, top), full)) });
rmSync(work, { recursive: true, force: true });

const alarmsOf = (kind: string) => runs.filter((r) => r.kind === kind && r.alarms.length > 0).length;
const max = (kind: string, check: string) => Math.max(...runs.filter((r) => r.kind === kind).map((r) => r.figures[check]));
const min = (kind: string, check: string) => Math.min(...runs.filter((r) => r.kind === kind).map((r) => r.figures[check]));
const summary = {
  data: args.data,
  unit: args.unit,
  subsamplesWithAlarm: `${alarmsOf("subsample-90%")} / 20`,
  shiftsWithAlarm: `${alarmsOf("shift-20%-to-top-10")} / 10`,
  subsampleMax: Object.fromEntries(Object.keys(runs[0].figures).map((c) => [c, max("subsample-90%", c)])),
  shiftMin: Object.fromEntries(Object.keys(runs[0].figures).map((c) => [c, min("shift-20%-to-top-10", c)])),
  seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
};
console.log(JSON.stringify(summary, null, 2));
if (args.report) {
  mkdirSync(dirname(args.report), { recursive: true });
  writeFileSync(args.report, `${JSON.stringify({ summary, runs }, null, 2)}\n`);
}
