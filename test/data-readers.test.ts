import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readInteractions } from "../shared/data/readers.js";
import { RecshipError } from "../shared/errors.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir();
function file(name: string, text: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const seqOf = (r: Awaited<ReturnType<typeof readInteractions>>, user: string) =>
  Array.from(r.log.sequences[r.log.userIds.indexOf(user)], (i) => r.log.itemIds[i]);

describe("interaction log readers", () => {
  it("reads CSV with named columns, orders each user by timestamp and maps string ids to dense ids", async () => {
    const p = file(
      "log.csv",
      'ts,who,what,kind\n30,alice,shoe,purchase\n10,alice,sock,purchase\n20,bob,hat,view\n15,bob,"scarf, red",purchase\n20,alice,lace,purchase\n',
    );
    const r = await readInteractions(p, { userColumn: "who", itemColumn: "what", timeColumn: "ts" });
    expect(r.format).toBe("csv");
    expect(r.log.userIds).toEqual(["alice", "bob"]);
    expect(seqOf(r, "alice")).toEqual(["sock", "lace", "shoe"]);
    expect(seqOf(r, "bob")).toEqual(["scarf, red", "hat"]);
    expect(r.log.itemIds[0]).toBe("");
    expect(new Set(r.log.itemIds.slice(1)).size).toBe(5);
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("filters by event type and accepts ISO-8601 timestamps", async () => {
    const p = file(
      "events.tsv",
      "user\titem\ttime\tevent\nu1\ta\t2024-01-02T00:00:00Z\tpurchase\nu1\tb\t2024-01-01T00:00:00Z\tview\nu1\tc\t2024-01-01T00:00:00Z\tadd_to_cart\n",
    );
    const r = await readInteractions(p, { timeColumn: "time", eventColumn: "event", eventFilter: ["purchase", "add_to_cart"] });
    expect(seqOf(r, "u1")).toEqual(["c", "a"]);
    expect(r.rowsSkippedByFilter).toBe(1);
  });

  it("reads JSON Lines, pairs and seq formats, gzipped or not", async () => {
    const jsonl = file("l.jsonl", '{"user":"u","item":"x","t":2}\n{"user":"u","item":"y","t":1}\n');
    expect(seqOf(await readInteractions(jsonl, { timeColumn: "t" }), "u")).toEqual(["y", "x"]);
    const pairs = file("p.pairs.txt.gz", gzipSync("1 10\n1 11\n2 10\n1 12\n"));
    const rp = await readInteractions(pairs);
    expect(rp.format).toBe("pairs");
    expect(seqOf(rp, "1")).toEqual(["10", "11", "12"]);
    const seq = file("s.seq.txt", "1 5 6 7\n2 7 5\n");
    const rs = await readInteractions(seq);
    expect(seqOf(rs, "2")).toEqual(["7", "5"]);
    expect(rs.log.interactions).toBe(5);
  });

  const expectError = async (p: string, options: Parameters<typeof readInteractions>[1], pattern: RegExp) => {
    const error = await readInteractions(p, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RecshipError);
    expect((error as Error).message).toMatch(pattern);
  };

  it("names a missing column, the columns that exist and the flag to use", async () => {
    const p = file("cols.csv", "user_id,item_id\nu,i\n");
    await expectError(
      p,
      { itemColumn: "item_id" },
      /cols\.csv:1 \(header\): no user column "user" \(columns are: user_id, item_id\).*--user-col/,
    );
  });

  it("rejects an empty file", async () => {
    await expectError(file("empty.csv", ""), {}, /empty\.csv: the file is empty/);
  });

  it("gives file and line for a non-numeric timestamp", async () => {
    const p = file("badts.csv", "user,item,ts\nu,a,1\nu,b,yesterday\n");
    await expectError(p, { timeColumn: "ts" }, /badts\.csv:3: timestamp "yesterday" in column "ts" is not a number/);
  });

  it("gives file and line for a malformed pairs line and a bad JSON line", async () => {
    await expectError(file("bad.pairs.txt", "1 2\n3\n"), {}, /bad\.pairs\.txt:2: expected "user item"/);
    await expectError(file("bad.jsonl", '{"user":"u","item":"i"}\n{oops\n'), {}, /bad\.jsonl:2: the line is not valid JSON/);
  });

  it("says when the event filter leaves nothing", async () => {
    const p = file("filt.csv", "user,item,event\nu,a,view\n");
    await expectError(
      p,
      { eventColumn: "event", eventFilter: ["purchase"] },
      /no interactions left after the event filter \(1 rows skipped\)/,
    );
  });

  it("cannot guess a format from an unknown extension and says how to fix it", async () => {
    await expectError(file("log.dat", "1 2\n"), {}, /cannot tell the format.*pass the format explicitly/);
  });
});
