import type { Command } from "commander";
import { writeSyntheticShopCsv } from "../data/synthetic.js";
import { writeSyntheticCatalogue } from "../data/synthetic-catalogue.js";
import { RecshipError } from "../errors.js";
import { type CommandContext } from "./common.js";
import { int } from "../util/parse.js";

export function registerSynth(program: Command, ctx: CommandContext): void {
  program
    .command("synth")
    .description(
      "write the built-in synthetic shop's interaction log as CSV (user_id,item_id,timestamp,event); with --items and --events, a catalogue at warehouse scale as a folder of Parquet parts (user_id,item_id,ts)",
    )
    .requiredOption("--out <path>", "file to write (the shop's CSV), or folder (the catalogue's Parquet parts; replaced)")
    .option("--users <n>", "number of shoppers", "3000")
    .option("--seed <n>", "random seed", "7")
    .option("--view-noise <fraction>", "extra 'view' rows mixed in", "0")
    .option("--items <n>", "catalogue: items (Zipf-like popularity)")
    .option("--events <n>", "catalogue: events (users = events / 20)")
    .action(async (o: Record<string, string>) => {
      if (o.items !== undefined || o.events !== undefined) {
        const items = int(o.items, "--items");
        const events = int(o.events, "--events");
        if (items === undefined || events === undefined) {
          throw new RecshipError("a synthetic catalogue needs both --items and --events", {
            fix: "for example: recship synth --out catalogue/ --items 1000000 --events 100000000",
          });
        }
        const t0 = performance.now();
        const r = await writeSyntheticCatalogue(o.out, { items, events, seed: int(o.seed, "--seed") });
        ctx.log.info(
          `wrote ${r.rows} interactions of ${r.users} users in ${r.files.length} Parquet parts to ${o.out} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
        );
        return;
      }
      const rows = await writeSyntheticShopCsv(o.out, {
        users: int(o.users, "--users"),
        seed: int(o.seed, "--seed"),
        viewNoise: Number(o.viewNoise),
      });
      ctx.log.info(`wrote ${rows} interactions to ${o.out}`);
    });
}
