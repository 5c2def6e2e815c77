import { describe, expect, it } from "vitest";
import { isRecshipError } from "../shared/errors.js";
import { injectedDelayMs, parseFaultInjection } from "../shared/serve/faults.js";

describe("test-only fault injection", () => {
  it("reads a checked JSON description", () => {
    expect(parseFaultInjection('{"errorRate": 0.05, "latencyFactor": 1.5}')).toEqual({ errorRate: 0.05, latencyFactor: 1.5 });
    for (const [text, message] of [
      ["nope", /is not JSON/],
      ['{"errorRate": 2}', /errorRate must be from 0 to 1/],
      ['{"latencyFactor": 0.5}', /latencyFactor must be from 1 to 100/],
      ['{"errors": 0.1}', /unknown field\(s\) errors/],
    ] as const) {
      let error: unknown;
      try {
        parseFaultInjection(text);
      } catch (e) {
        error = e;
      }
      expect(isRecshipError(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it("slows a request by the factor of its own time, plus a fixed delay", () => {
    expect(injectedDelayMs({ latencyFactor: 1.5 }, 2)).toBeCloseTo(1);
    expect(injectedDelayMs({ addedLatencyMs: 3 }, 2)).toBe(3);
    expect(injectedDelayMs({}, 2)).toBe(0);
  });
});
