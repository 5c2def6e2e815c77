import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { LocalBaselineStore } from "../cache/local-baseline-store.js";
import { RecshipError } from "../errors.js";
import { gateWithBaseline } from "../gate/pipeline.js";
import { GATE_OPTIONS, gateOptionsFrom } from "../gate/options.js";
import { gateMarkdown } from "../report/gate-markdown.js";
import { gitInfo, type CommandContext } from "./common.js";
import { OptionReader } from "../util/option-spec.js";
import { cliSource, registerOptions } from "./options.js";

/** The gate's verdict as an exit status: a regression is not a crash, but it must fail the command. */
class GateFailed extends RecshipError {}

export function registerGate(program: Command, ctx: CommandContext): void {
  const command = program
    .command("gate")
    .description("benchmark-gate: compare a candidate model with a baseline on the test split; fail on a real regression, pass on noise");
  registerOptions(command, GATE_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(GATE_OPTIONS, cliSource(GATE_OPTIONS, values));
    const options = gateOptionsFrom(o);
    const storeDir = o.text("baseline-dir");
    const save = o.boolean("save-baseline");
    if (save && !storeDir) throw new RecshipError("--save-baseline needs --baseline-store <dir>");
    const branch = o.text("branch") ?? gitInfo()?.ref ?? "main";
    const work = await mkdtemp(join(tmpdir(), "recship-gate-"));
    try {
      const outcome = await gateWithBaseline({
        ...options,
        store: storeDir ? new LocalBaselineStore(storeDir) : undefined,
        compareBranches: [branch],
        save: save ? { branch } : undefined,
        commit: gitInfo()?.sha,
        workDir: work,
        log: ctx.log,
      });
      const markdown = gateMarkdown(outcome.report, { maxChars: 1_000_000 });
      const markdownPath = o.text("markdown");
      if (markdownPath) await writeFile(markdownPath, markdown);
      else process.stdout.write(markdown);
      await ctx.writeReport(o.text("report"), outcome.report);
      if (!outcome.report.passed) {
        throw new GateFailed(`the candidate regresses: ${outcome.report.failures.join("; ")}`, {
          fix: "see the report; if the change is intended, widen the margin in the gate rules or bless the candidate as the new baseline",
        });
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}
