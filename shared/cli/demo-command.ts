import type { Command } from "commander";
import { convertBundle } from "../convert/convert-bundle.js";
import { runDemo, type DemoStep } from "../demo/demo.js";
import { int, type CommandContext } from "./common.js";

/** Chain steps after train-model that the demo runs, in order. */
export const demoSteps: DemoStep[] = [
  {
    name: "convert",
    run: async (bundle, log) => {
      const report = await convertBundle({ bundle, log });
      return {
        report,
        summary:
          `ONNX model ${report.model} (${(report.onnxBytes / 1024).toFixed(0)} KiB, opset ${report.opset}), exported in ${report.exportSeconds.toFixed(2)}s; ` +
          `parity max |Δscore| ${report.parity.maxAbsDiff.toExponential(2)}, top-10 agreement ${(100 * report.parity.top10Agreement).toFixed(2)}%`,
      };
    },
  },
];

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
