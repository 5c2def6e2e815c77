import type { Command } from "commander";
import { TRAIN_OPTIONS, trainOptionsFrom } from "../train/options.js";
import { trainModel } from "../train/train-model.js";
import { OptionReader } from "../util/option-spec.js";
import { gitInfo, type CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";

export function registerTrain(program: Command, ctx: CommandContext): void {
  const command = program.command("train").description("train a SASRec recommender on an interaction log and write a model bundle");
  registerOptions(command, TRAIN_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(TRAIN_OPTIONS, cliSource(TRAIN_OPTIONS, values));
    const report = await trainModel({ ...trainOptionsFrom(o), git: gitInfo(), log: ctx.log });
    await ctx.writeReport(o.text("report"), report);
  });
}
