import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Command } from "commander";
import { registerServe } from "../shared/cli/serve-command.js";
import { main } from "../shared/cli/main.js";
import { resolveSpec } from "../shared/deploy/k8s/inputs.js";
import { renderAll } from "../shared/deploy/k8s/render.js";
import { parseServerArgs, SERVER_TUNING_FLAGS } from "../shared/deploy/server-args.js";
import { silentLogger } from "../shared/log.js";
import { tempDir } from "./helpers/tmp.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("server tuning flags of a deployment", () => {
  it("accepts the tuning flags, in both spellings, and writes them canonically", () => {
    expect(parseServerArgs(undefined)).toEqual([]);
    expect(parseServerArgs("  ")).toEqual([]);
    expect(parseServerArgs("--workers 2 --threads=1\n--max-batch 32 --max-delay-ms 0.5")).toEqual([
      "--workers",
      "2",
      "--threads",
      "1",
      "--max-batch",
      "32",
      "--max-delay-ms",
      "0.5",
    ]);
  });

  it("refuses other flags, repeats, missing and out-of-range values, naming the input and the fix", () => {
    const fails = (text: string, message: RegExp) => {
      let error: unknown;
      try {
        parseServerArgs(text);
      } catch (e) {
        error = e;
      }
      expect(String((error as Error)?.message)).toMatch(message);
      expect(String(error)).toMatch(/server-args/);
    };
    fails("--allow-fault-injection", /"--allow-fault-injection" is not a server tuning flag/);
    fails("--port 9000", /"--port" is not a server tuning flag/);
    fails("--workers 2 --workers 3", /--workers is given twice/);
    fails("--threads", /--threads needs a whole number from 1 to 256, got nothing/);
    fails("--threads 0", /from 1 to 256, got "0"/);
    fails("--max-batch 1.5", /--max-batch needs a whole number/);
    fails("--max-delay-ms soon", /--max-delay-ms needs a number from 0 to 1000, got "soon"/);
  });

  it("passes the server's limits (issue 20): sizes, heavy answers, timeouts, connections, through to the pods", () => {
    const limits =
      "--max-infer-rows 256 --max-response-bytes 8388608 --max-heavy-requests 1 --request-timeout 10 " +
      "--headers-timeout 5 --keep-alive-timeout 4 --max-connections 256";
    const args = parseServerArgs(limits);
    expect(args).toEqual(limits.split(" "));
    const spec = resolveSpec({ mode: "canary", log: silentLogger, name: "recs", serverArgs: [limits] }, "shop");
    const model = { version: "v1", url: "https://models.example/v1.tar.gz", sha256: "ab".repeat(32) };
    const rendered = renderAll(spec, { stable: { image: "recship:1", model } });
    const container = (rendered.stable.find((o) => o.kind === "Deployment") as any).spec.template.spec.containers[0];
    expect(container.args.join(" ")).toContain(limits);
    expect(() => parseServerArgs("--max-connections 4")).toThrow(/--max-connections needs a whole number from 16 to 65536, got "4"/);
    expect(() => parseServerArgs("--request-timeout 0")).toThrow(/--request-timeout needs a number from 1 to 3600/);
  });

  it("allows only flags `recship serve` has", () => {
    const program = new Command();
    registerServe(program, { log: silentLogger, writeReport: async () => undefined });
    const serveFlags = program.commands[0].options.map((o) => o.long);
    for (const flag of Object.keys(SERVER_TUNING_FLAGS)) expect(serveFlags).toContain(flag);
  });

  it("checks `recship deploy --serve-args` the same way, before anything starts", async () => {
    const dir = tempDir("recship-serve-args-cli-");
    const state = join(dir, "state.json");
    const chunks: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    });
    const code = await main([
      "deploy",
      "--mode",
      "canary",
      "--bundle",
      dir,
      "--state",
      state,
      "--serve-args",
      "--threads 1 --allow-fault-injection",
    ]);
    expect(code).toBe(1);
    expect(chunks.join("")).toMatch(/"--allow-fault-injection" is not a server tuning flag/);
    expect(chunks.join("")).toMatch(/--serve-args/);
    expect(existsSync(state)).toBe(false);
  });
});
