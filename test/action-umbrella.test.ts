import { describe, expect, it } from "vitest";
import { runDistAction } from "./helpers/run-action.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

describe("umbrella action (top-level action.yml) from dist", () => {
  const dir = tempDir();

  it("refuses an unknown step and names the valid ones", async () => {
    const run = await runDistAction("umbrella", { step: "trian" }, dir);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/::error title=recship::recship: unknown step "trian".*train, convert, compress, gate, deploy, monitor/);
  });

  it("runs the chosen step's code with the same inputs", async () => {
    const csv = await syntheticCsv(dir, 150, 9);
    const run = await runDistAction(
      "umbrella",
      {
        step: "train",
        data: csv.data,
        "user-column": "user_id",
        "item-column": "item_id",
        "time-column": "timestamp",
        config: "model:\n  hidden: 8\n  maxlen: 6",
        epochs: "1",
        out: "umbrella-bundle",
      },
      dir,
    );
    expect(run.code).toBe(0);
    expect(run.outputs.bundle).toMatch(/umbrella-bundle$/);
    expect(run.summary).toMatch(/## recship train-model/);
  });
});
