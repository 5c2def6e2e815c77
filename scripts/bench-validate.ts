// validate-data's speed at warehouse scale (issue 18): writes a synthetic N-row CSV once (1 M
// users, 200 k items, a timestamp column; the generator of `npm run bench:train --load-rows`)
// and times `recship validate`'s step on it, with the peak RSS.
//   npx tsx scripts/bench-validate.ts [--rows 10000000] [--file /tmp/recship-10m.csv] [--report bench/validate.json]
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { validateLog } from "../shared/data/quality/validate-log.js";
import { writeRandomLogCsv } from "../shared/data/synthetic.js";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "10000000" },
    file: { type: "string" },
    report: { type: "string", default: "bench/validate.json" },
  },
});
const rows = Number(args.rows);
const file = args.file ?? `/tmp/recship-${rows}.csv`;
if (!existsSync(file)) {
  process.stderr.write(`writing a ${rows}-row log to ${file}\n`);
  await writeRandomLogCsv(file, rows);
}
const started = performance.now();
const report = await validateLog({ data: file, format: "csv", timeColumn: "ts" });
const seconds = (performance.now() - started) / 1000;
const result = {
  file,
  rows: report.rows,
  users: report.users,
  items: report.items,
  stepSeconds: Number(report.seconds.toFixed(1)),
  verdict: report.passed ? "pass" : "fail",
  failed: report.checks.filter((c) => c.status === "error").map((c) => c.name),
  warned: report.checks.filter((c) => c.status === "warn").map((c) => c.name),
  seconds: Number(seconds.toFixed(1)),
  rowsPerSecond: Math.round(report.rows / seconds),
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
};
mkdirSync(dirname(args.report!), { recursive: true });
writeFileSync(args.report!, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
