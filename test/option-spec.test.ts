import { readFileSync } from "node:fs";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { cliSource, registerOptions } from "../shared/cli/options.js";
import { TRAIN_OPTIONS, trainOptionsFrom } from "../shared/train/options.js";
import { CONVERT_OPTIONS } from "../shared/convert/options.js";
import { COMPRESS_OPTIONS } from "../shared/compress/options.js";
import { GATE_OPTIONS, gateOptionsFrom } from "../shared/gate/options.js";
import { actionInputsYaml, OptionReader, type OptionSource, type OptionSpec } from "../shared/util/option-spec.js";

const root = new URL("..", import.meta.url).pathname;

/** An action's inputs as the runner hands them over (unset inputs take action.yml's defaults, like the runner does). */
function actionSource(given: Record<string, string>): OptionSource {
  return { get: (name) => given[name], where: (name) => `input ${name}`, frontEnd: "action" };
}

/** Parses a command line with the CLI's registration and returns what the command's action received. */
function parseCli(specs: readonly OptionSpec[], argv: string[]): Record<string, unknown> {
  let received: Record<string, unknown> = {};
  const program = new Command().exitOverride();
  registerOptions(program.command("step"), specs).action((values: Record<string, unknown>) => {
    received = values;
  });
  program.parse(["node", "recship", "step", ...argv]);
  return received;
}

describe("one option spec per step", () => {
  const inputsOf = (action: string) => {
    const text = readFileSync(`${root}/actions/${action}/action.yml`, "utf8");
    return text.slice(text.indexOf("\ninputs:\n") + 1, text.indexOf("\noutputs:\n") + 1);
  };

  it("convert-onnx's and compress-model's action.yml inputs are their specs', as generated; the log-reading options name their `data`", () => {
    expect(inputsOf("convert-onnx")).toBe(actionInputsYaml(CONVERT_OPTIONS));
    expect(inputsOf("convert-onnx")).toMatch(
      /User column \(CSV\/TSV\) or field \(JSON Lines\) of `data`"\n {4}required: false\n {4}default: "user"/,
    );
    expect(inputsOf("compress-model")).toBe(actionInputsYaml(COMPRESS_OPTIONS));
    // compress falls back to how the bundle's log was read: no column defaults
    expect(inputsOf("compress-model")).toMatch(
      /User column \(CSV\/TSV\) or field \(JSON Lines\) of `data`"\n {4}required: false\n {2}item-column/,
    );
    expect(inputsOf("compress-model")).not.toMatch(/ {2}summary:/); // CLI only
  });

  it("train-model's action.yml inputs are the spec's action options, as generated", () => {
    const block = inputsOf("train-model");
    expect(block).toBe(actionInputsYaml(TRAIN_OPTIONS));
    expect(block).toMatch(/ {2}install-gpu-backend:/); // action only
    expect(block).not.toMatch(/ {2}resume:/); // CLI only
  });

  it("the CLI and the action give train-model the same options for the same values, defaults from the spec", () => {
    const cli = parseCli(TRAIN_OPTIONS, [
      "--data",
      "log.csv",
      "--user-col",
      "u",
      "--epochs",
      "7",
      "--loss",
      "bce",
      "--workers",
      "2",
      "--event-filter",
      "buy,cart",
    ]);
    const fromCli = trainOptionsFrom(new OptionReader(TRAIN_OPTIONS, cliSource(TRAIN_OPTIONS, cli)));
    const fromAction = trainOptionsFrom(
      new OptionReader(
        TRAIN_OPTIONS,
        actionSource({ data: "log.csv", "user-column": "u", epochs: "7", loss: "bce", workers: "2", "event-filter": "buy,cart" }),
      ),
    );
    expect(fromCli).toEqual(fromAction);
    expect(fromCli).toMatchObject({
      data: "log.csv",
      format: "auto",
      userColumn: "u",
      itemColumn: "item",
      eventFilter: ["buy", "cart"],
      kCore: 0,
      backend: "auto",
      workers: 2,
      out: "recship-bundle",
      overwrite: false,
      resume: false,
      overrides: { train: { epochs: 7, loss: "bce" } },
    });
  });

  it("a bad value names the flag on the CLI and the input in the action, with one message format", () => {
    const cli = parseCli(TRAIN_OPTIONS, ["--data", "x", "--epochs", "ten"]);
    expect(() => trainOptionsFrom(new OptionReader(TRAIN_OPTIONS, cliSource(TRAIN_OPTIONS, cli)))).toThrow(
      '--epochs must be a whole number, got "ten"',
    );
    expect(() => trainOptionsFrom(new OptionReader(TRAIN_OPTIONS, actionSource({ data: "x", loss: "mse" })))).toThrow(
      'input loss must be one of ce, sampled-ce, bce; got "mse"',
    );
    expect(() => trainOptionsFrom(new OptionReader(TRAIN_OPTIONS, actionSource({})))).toThrow(/input data is required/);
    expect(() => new OptionReader(TRAIN_OPTIONS, actionSource({ overwrite: "maybe" })).boolean("overwrite")).toThrow(
      'input overwrite must be true or false, got "maybe"',
    );
    // reading an option that is not declared, or as another kind, is a bug in the step, not a user error
    expect(() => new OptionReader(TRAIN_OPTIONS, actionSource({})).text("no-such-option")).toThrow("option no-such-option is not declared");
    expect(() => new OptionReader(TRAIN_OPTIONS, actionSource({})).text("epochs")).toThrow("declared as int");
  });

  it("the CLI's --help lists every CLI option with its default", () => {
    const program = new Command();
    registerOptions(program.command("step"), TRAIN_OPTIONS);
    const help = program.commands[0].helpInformation();
    expect(help.replace(/\s+/g, " ")).toMatch(
      /--user-col <value> user column \(CSV\/TSV\) or field \(JSON Lines\) \(default: user\) --item-col/,
    );
    expect(help).toMatch(/--resume/);
    expect(help).not.toMatch(/install-gpu-backend/);
  });

  it("benchmark-gate: one spec for both front ends; kept CLI names (--candidate, --baseline-store), a default-on switch is --no-…", () => {
    expect(inputsOf("benchmark-gate")).toBe(actionInputsYaml(GATE_OPTIONS));
    const cli = parseCli(GATE_OPTIONS, ["--candidate", "cand", "--data", "log.csv", "--no-latency", "--exclude-seen", "--seed", "7"]);
    const reader = new OptionReader(GATE_OPTIONS, cliSource(GATE_OPTIONS, cli));
    const fromCli = gateOptionsFrom(reader);
    const fromAction = gateOptionsFrom(
      new OptionReader(
        GATE_OPTIONS,
        actionSource({ bundle: "cand", data: "log.csv", latency: "false", "exclude-seen": "true", seed: "7", "save-baseline": "true" }),
      ),
    );
    expect(fromCli).toEqual(fromAction);
    expect(fromCli).toMatchObject({ candidate: "cand", modelName: "default", batchSize: 256, requireBaseline: false });
    expect(fromCli.rules.latency.enabled).toBe(false);
    expect(fromCli.rules.protocol.excludeSeen).toBe(true);
    expect(fromCli.rules.seed).toBe(7);
    // save-baseline is declared once per front end: on by default in the action (baseline branch only), opt-in on the CLI
    expect(reader.boolean("save-baseline")).toBe(false);
    expect(new OptionReader(GATE_OPTIONS, actionSource({ data: "x" })).boolean("save-baseline")).toBe(true);
    // exclude-seen not given leaves the rules' protocol alone (a rules file may set it)
    const rules = gateOptionsFrom(
      new OptionReader(GATE_OPTIONS, actionSource({ data: "x", rules: "protocol:\n  excludeSeen: true\n" })),
    ).rules;
    expect(rules.protocol.excludeSeen).toBe(true);
    expect(() =>
      gateOptionsFrom(
        new OptionReader(GATE_OPTIONS, cliSource(GATE_OPTIONS, parseCli(GATE_OPTIONS, ["--data", "x", "--resamples", "10"]))),
      ),
    ).toThrow("--resamples must be at least 1000, got 10");
  });

  it("lines options: a repeatable flag on the CLI, one value a line in the action; recorded settings read as unset at their default", () => {
    const specs: OptionSpec[] = [
      { name: "headers", flag: "header", kind: "lines", description: "Headers" },
      { name: "replicas", kind: "int", default: "2", recorded: true, description: "Replicas" },
    ];
    const cli = new OptionReader(specs, cliSource(specs, parseCli(specs, ["--header", "A: 1, 2", "--header", "B: 3"])));
    expect(cli.lines("headers")).toEqual(["A: 1, 2", "B: 3"]);
    expect(new OptionReader(specs, actionSource({ headers: "A: 1, 2\n\nB: 3\n" })).lines("headers")).toEqual(["A: 1, 2", "B: 3"]);
    expect(cli.int("replicas")).toBeUndefined();
    expect(new OptionReader(specs, actionSource({ replicas: "2" })).int("replicas")).toBeUndefined();
    expect(new OptionReader(specs, actionSource({ replicas: "3" })).int("replicas")).toBe(3);
    expect(() => new OptionReader([...specs, specs[1]], actionSource({}))).toThrow("declared twice");
  });
});
