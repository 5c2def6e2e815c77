import type { Command } from "commander";
import { runDemo, type DemoStep } from "../demo/demo.js";
import { int, type CommandContext } from "./common.js";

/** Chain steps after train-model that the demo runs; each step's module adds itself here. */
export const demoSteps: DemoStep[] = [];

export function registerDemo(program: Command, ctx: CommandContext): void {
  program
    .command("demo")
    .description("run the pipeline end to end on the built-in synthetic shop data")
    .option("--out <dir>", "where the demo writes its data, bundle and reports", "runs/demo")
    .option("--users <n>", "synthetic shoppers", "3000")
    .option("--epochs <n>", "training epochs", "25")
    .option("--report <file>", "write the demo report as JSON (default: <out>/demo-report.json)")
    .action(async (o: Record<string, string>) => {
      const report = await runDemo({
        out: o.out,
        users: int(o.users, "--users"),
        epochs: int(o.epochs, "--epochs"),
        log: ctx.log,
        steps: demoSteps,
      });
      await ctx.writeReport(o.report ?? `${o.out}/demo-report.json`, report);
    });
}
