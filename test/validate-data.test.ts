import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { loadPolicy } from "../shared/data/quality/policy.js";
import { validateLog, type DataReport } from "../shared/data/quality/validate-log.js";
import { jensenShannonDistance, lInfinityDistance } from "../shared/stats/divergence.js";
import { Hash64Index, hashString } from "../shared/util/hash64.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-validate-");
const NAMES = [
  "required-columns",
  "malformed-rows",
  "empty-ids",
  "timestamps",
  "event-types",
  "utf8",
  "gzip",
  "duplicate-rows",
  "repeated-events",
  "out-of-order",
  "future-timestamps",
  "bots",
  "one-event-users",
  "cold-items",
  "top-item-share",
  "catalogue",
];
/** Every check an error, and the share checks strict, so each corruption fails exactly one check. */
const STRICT = `checks:\n${NAMES.map((n) => `  ${n}: { severity: error${["duplicate-rows", "repeated-events", "out-of-order", "catalogue"].includes(n) ? ", max: 0" : ""} }`).join("\n")}\n`;
const READ = { userColumn: "user_id", itemColumn: "item_id", timeColumn: "timestamp", eventColumn: "event" };

let header: string;
let rows: string[];
beforeAll(async () => {
  const { data } = await syntheticCsv(dir, 2000, 5);
  [header, ...rows] = readFileSync(data, "utf8").trimEnd().split("\n");
});

function write(name: string, lines: string[] | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.isBuffer(lines) ? lines : `${lines.join("\n")}\n`);
  return path;
}

const run = (data: string, extra: Partial<Parameters<typeof validateLog>[0]> = {}) =>
  validateLog({ data, format: "csv", ...READ, policy: STRICT, ...extra });
const flagged = (r: DataReport) => r.checks.filter((c) => c.status === "error" || c.status === "warn").map((c) => c.name);
/** The first line (1-based, header = 1) of the data row holding `item`. */
const firstLineOf = (lines: string[], item: string) => lines.findIndex((l) => l.split(",")[1] === item) + 2;
const field = (row: string, k: number, value: string) =>
  row
    .split(",")
    .map((f, i) => (i === k ? value : f))
    .join(",");
/** The line of the first row whose item has a single event in the clean rows (the new items come later). */
const firstColdLine = (lines: string[]) => {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l.split(",")[1], (counts.get(l.split(",")[1]) ?? 0) + 1);
  return lines.findIndex((l) => counts.get(l.split(",")[1]) === 1) + 2;
};
const LATE = 1_760_000_000; // after every synthetic timestamp, before now

describe("validate-data on synthetic logs", () => {
  it("passes the clean log under the strict policy, and profiles it", async () => {
    const r = await run(write("clean.csv", [header, ...rows]));
    expect(flagged(r)).toEqual([]);
    expect(r.passed).toBe(true);
    expect(r.rows).toBe(rows.length);
    expect(r.profile.topItems[0][1]).toBeGreaterThan(r.profile.topItems[10][1]);
  });

  // each corruption: the file's lines, and the check and first offending line it must produce
  const variants: [string, () => { lines: string[]; line: number }, string][] = [
    ["required-columns", () => ({ lines: [header.replace("user_id", "customer"), ...rows], line: 1 }), "user column"],
    ["malformed-rows", () => ({ lines: [header, ...rows.slice(0, 48), `${rows[48]},extra`, ...rows.slice(49)], line: 50 }), "fields"],
    ["empty-ids", () => ({ lines: [header, ...rows.slice(0, 58), field(rows[58], 0, ""), ...rows.slice(59)], line: 60 }), "id"],
    [
      "timestamps",
      () => ({ lines: [header, ...rows.slice(0, 68), field(rows[68], 2, "yesterday"), ...rows.slice(69)], line: 70 }),
      "timestamp",
    ],
    [
      "event-types",
      () => ({ lines: [header, ...rows.slice(0, 78), field(rows[78], 3, "purchsae"), ...rows.slice(79)], line: 80 }),
      "event",
    ],
    ["duplicate-rows", () => ({ lines: [header, ...rows.slice(0, 100), rows[99], ...rows.slice(100)], line: 102 }), "exactly"],
    [
      "repeated-events",
      () => ({ lines: [header, ...rows.slice(0, 100), field(rows[99], 3, "view"), ...rows.slice(100)], line: 102 }),
      "(user, item, time)",
    ],
    [
      "out-of-order",
      () => ({
        lines: [header, ...rows.slice(0, 100), field(rows[100], 2, String(Number(rows[99].split(",")[2]) - 10)), ...rows.slice(101)],
        line: 102,
      }),
      "earlier",
    ],
    [
      "future-timestamps",
      () => ({
        lines: [header, ...rows.slice(0, 118), field(rows[118], 2, String(Math.round(Date.now() / 1000) + 10 * 86400)), ...rows.slice(119)],
        line: 120,
      }),
      "future",
    ],
    [
      "bots",
      () => ({
        lines: [header, ...rows, ...Array.from({ length: 1500 }, (_, k) => `bot-1,${rows[k % 500].split(",")[1]},${LATE + k},purchase`)],
        line: rows.length + 2,
      }),
      "bot-1",
    ],
    [
      "one-event-users",
      () => ({
        lines: [header, ...rows, ...Array.from({ length: 2500 }, (_, k) => `once-${k},${rows[k].split(",")[1]},${LATE},purchase`)],
        line: rows.length + 2,
      }),
      "single event",
    ],
    [
      "cold-items",
      () => ({
        lines: [
          header,
          ...rows,
          ...Array.from({ length: 8000 }, (_, k) => `u${String(k % 2000).padStart(6, "0")},new-${k},${LATE + k},purchase`),
        ],
        line: firstColdLine(rows),
      }),
      "fewer than",
    ],
    [
      "top-item-share",
      () => {
        const top = rows[0].split(",")[1];
        const extra = Array.from({ length: 6000 }, (_, k) => `u${String(k % 2000).padStart(6, "0")},${top},${LATE + k},purchase`);
        return { lines: [header, ...rows, ...extra], line: firstLineOf(rows, top) };
      },
      "of all events",
    ],
  ];
  for (const [check, make, words] of variants) {
    it(`fails ${check} at the first offending line`, async () => {
      const { lines, line } = make();
      const r = await run(write(`${check}.csv`, lines));
      expect(flagged(r)).toEqual([check]);
      expect(r.passed).toBe(false);
      const result = r.checks.find((c) => c.name === check)!;
      expect(result.offenders[0].line).toBe(line);
      expect(`${result.message} ${result.offenders[0].value}`).toContain(words);
      expect(result.fix).toBeTruthy();
    });
  }

  it("fails utf8 on a line with a broken byte, naming the line", async () => {
    const text = [header, ...rows].join("\n");
    const at = text.indexOf(rows[88]);
    const broken = Buffer.concat([
      Buffer.from(text.slice(0, at)),
      Buffer.from([0x75, 0xff, 0xfe]),
      Buffer.from(text.slice(at + 1)),
      Buffer.from("\n"),
    ]);
    const r = await run(write("utf8.csv", broken));
    expect(flagged(r)).toEqual(["utf8"]);
    expect(r.checks.find((c) => c.name === "utf8")!.offenders[0].line).toBe(90);
  });

  it("fails gzip on a truncated stream, with the last line read", async () => {
    const gz = gzipSync(`${[header, ...rows].join("\n")}\n`);
    const r = await run(write("cut.csv.gz", gz.subarray(0, Math.floor(gz.length / 2))));
    expect(flagged(r)).toEqual(["gzip"]);
    const gzip = r.checks.find((c) => c.name === "gzip")!;
    expect(gzip.offenders[0].line).toBeGreaterThan(100);
    expect(gzip.message).toMatch(/decompressed or read to the end/);
    expect(r.checks.filter((c) => c.group !== "schema").every((c) => c.status === "skipped")).toBe(true);
  });

  it("fails catalogue on items missing from it, at the first line of the first such item", async () => {
    const items = [...new Set(rows.map((r) => r.split(",")[1]))];
    const catalogue = write("catalogue.txt", items.slice(1));
    const r = await run(write("cat.csv", [header, ...rows]), { catalogue });
    expect(flagged(r)).toEqual(["catalogue"]);
    expect(r.checks.find((c) => c.name === "catalogue")!.offenders[0]).toEqual({ line: firstLineOf(rows, items[0]), value: items[0] });
  });

  it("reads every format train-model reads: jsonl, pairs, seq, gzip", async () => {
    const jsonl = write("l.jsonl", ['{"user":"a","item":"x","t":1}', '{"user":"a","item":"y","t":2}', '{"user":"a","item":"y","t":2}']);
    const rj = await validateLog({ data: jsonl, timeColumn: "t", policy: STRICT });
    expect(flagged(rj)).toContain("duplicate-rows");
    expect(rj.checks.find((c) => c.name === "duplicate-rows")!.offenders[0].line).toBe(3);
    const pairs = write("p.pairs.txt.gz", gzipSync("1 10\n1 11\n2\n"));
    const rp = await validateLog({ data: pairs });
    expect(rp.checks.find((c) => c.name === "malformed-rows")).toMatchObject({ status: "error", offenders: [{ line: 3 }] });
    const rs = await validateLog({ data: write("s.seq.txt", ["1 5 6 7", "2 7 5"]) });
    expect(rs.rows).toBe(5);
  });
});

describe("drift from the previous data's profile", () => {
  it("finds no drift against itself and flags items moved to the most popular", async () => {
    const clean = write("base.csv", [header, ...rows]);
    const base = await run(clean);
    const same = await run(clean, { baseline: { profile: base.profile, from: "base" } });
    expect(same.checks.filter((c) => c.group === "drift").every((c) => c.status === "pass")).toBe(true);
    const top = base.profile.topItems.slice(0, 5).map(([id]) => id);
    const shifted = rows.map((r, k) => (k % 5 === 0 ? field(r, 1, top[k % 3]) : r));
    const now = await run(write("shifted.csv", [header, ...shifted]), { baseline: { profile: base.profile, from: "base" } });
    const drift = now.checks.filter((c) => c.group === "drift" && c.status === "warn").map((c) => c.name);
    expect(drift).toEqual(expect.arrayContaining(["popularity-js", "popularity-linf"]));
    expect(now.drift?.topShares.after[0]).toBeGreaterThan(now.drift!.topShares.before[0]);
  });

  it("documents every default in policy.example.yml", () => {
    expect(loadPolicy("actions/validate-data/policy.example.yml")).toEqual(loadPolicy(undefined));
    expect(() => loadPolicy("checks:\n  duplicate-rows: { max: -1 }")).toThrow(/invalid validation policy: checks.duplicate-rows.max/);
    expect(() => loadPolicy("checks:\n  dupes: { max: 1 }")).toThrow(/unknown key "dupes" under checks/);
  });

  it("measures distances and hashes as documented", () => {
    expect(jensenShannonDistance([1, 0], [0, 1])).toBeCloseTo(1);
    expect(jensenShannonDistance([2, 2], [1, 1])).toBe(0);
    expect(lInfinityDistance([3, 1], [1, 1])).toBeCloseTo(0.25);
    const index = new Hash64Index(4);
    for (let round = 0; round < 2; round++) for (let k = 0; k < 10000; k++) expect(index.add(hashString(`id-${k}`))).toBe(k);
    expect(index.size).toBe(10000);
    expect(index.indexOf(hashString("id-77"))).toBe(77);
    expect(index.indexOf(hashString("nope"))).toBe(-1);
  });
});
