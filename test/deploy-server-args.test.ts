import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../shared/cli/main.js";
import { parseServerArgs } from "../shared/deploy/server-args.js";
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
