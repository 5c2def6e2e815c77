import type { Command } from "commander";
import { writeSyntheticShopCsv } from "../data/synthetic.js";
import { type CommandContext } from "./common.js";
import { int } from "../util/parse.js";

export function registerSynth(program: Command, ctx: CommandContext): void {
  program
    .command("synth")
    .description("write the built-in synthetic shop's interaction log as CSV (user_id,item_id,timestamp,event)")
    .requiredOption("--out <file.csv>", "file to write")
    .option("--users <n>", "number of shoppers", "3000")
    .option("--seed <n>", "random seed", "7")
    .option("--view-noise <fraction>", "extra 'view' rows mixed in", "0")
    .action(async (o: Record<string, string>) => {
      const rows = await writeSyntheticShopCsv(o.out, {
        users: int(o.users, "--users"),
        seed: int(o.seed, "--seed"),
        viewNoise: Number(o.viewNoise),
      });
      ctx.log.info(`wrote ${rows} interactions to ${o.out}`);
    });
}
