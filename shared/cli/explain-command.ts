import type { Command } from "commander";
import { explainOffline, type ExplainReport } from "../serve/explain.js";
import { EXPLAIN_OPTIONS, explainOptionsFrom } from "../serve/explain-options.js";
import { OptionReader } from "../util/option-spec.js";
import { type CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";

export function registerExplain(program: Command, ctx: CommandContext): void {
  const command = program
    .command("explain")
    .description(
      "recommend for one history from a bundle's ONNX model and show which history items drove each recommendation (leave-one-out occlusion)",
    );
  registerOptions(command, EXPLAIN_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(EXPLAIN_OPTIONS, cliSource(EXPLAIN_OPTIONS, values));
    const report = await explainOffline({ ...explainOptionsFrom(o), log: ctx.log });
    process.stdout.write(o.boolean("json") ? `${JSON.stringify(report, null, 2)}\n` : explainText(report));
  });
}

/** One block per recommended item: its score, then the history items behind it with the score each one adds. */
function explainText(report: ExplainReport): string {
  const { history } = report;
  const lines = [
    `model ${report.modelVersion}; history: ${history.given} item(s), ${history.known} known to the model, the last ${history.explained} explained`,
    "contribution = score(item | history) − score(item | history without that item)",
  ];
  report.explanations.forEach((e, r) => {
    lines.push(`${String(r + 1).padStart(3)}. ${e.item}  score ${e.score.toFixed(4)}`);
    const because = e.because.map((c) => `${c.item} (#${c.history_index}, ${signed(c.contribution)})`);
    lines.push(`     because of: ${because.length ? because.join(", ") : "(no history)"}`);
  });
  return `${lines.join("\n")}\n`;
}

function signed(v: number): string {
  return `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(4)}`;
}
