#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { isRecshipError } from "../errors.js";
import { consoleLogger } from "../log.js";
import { RECSHIP_VERSION } from "../version.js";
import { type CommandContext } from "./common.js";
import { writeJsonReport } from "../util/json-report.js";
import { registerTrain } from "./train-command.js";
import { registerSynth } from "./synth-command.js";
import { registerConvert } from "./convert-command.js";
import { registerDemo } from "./demo-command.js";
import { registerGate } from "./gate-command.js";
import { registerCompress } from "./compress-command.js";
import { registerServe } from "./serve-command.js";
import { registerExplain } from "./explain-command.js";
import { registerDeploy } from "./deploy-command.js";
import { registerMonitor } from "./monitor-command.js";
import { registerValidate } from "./validate-command.js";
import { registerTune } from "./tune-command.js";

/** `recship <step> [options]`: every action's logic, runnable on a laptop. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  const ctx: CommandContext = { log: consoleLogger(), writeReport: writeJsonReport };
  const program = new Command("recship")
    .version(RECSHIP_VERSION)
    .description("retrain, validate and ship recommendation models")
    .option("--debug", "print stack traces")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerValidate(program, ctx);
  registerTrain(program, ctx);
  registerTune(program, ctx);
  registerSynth(program, ctx);
  registerConvert(program, ctx);
  registerDemo(program, ctx);
  registerGate(program, ctx);
  registerCompress(program, ctx);
  registerServe(program, ctx);
  registerExplain(program, ctx);
  registerDeploy(program, ctx);
  registerMonitor(program, ctx);
  try {
    await program.parseAsync(
      argv.filter((a) => a !== "--debug"),
      { from: "user" },
    );
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (isRecshipError(error)) {
      process.stderr.write(`error: ${error.message}\n`);
      if (debug) process.stderr.write(`${error.stack}\n`);
      return 1;
    }
    process.stderr.write(`recship crashed (a bug, please report it): ${(error as Error)?.stack ?? String(error)}\n`);
    return 2;
  }
}

// run from source (`tsx shared/cli/main.ts`); the dist bundle calls main() from actions/dist-entry.ts
const isEntry = process.argv[1] && /cli[\\/]main\.[jt]s$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`${(error as Error).stack}\n`);
      process.exit(2);
    },
  );
}
