import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { convertBundle, ParityFailure } from "../shared/convert/convert-bundle.js";
import { main } from "../shared/cli/main.js";
import { silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { convertSummaryMarkdown } from "../shared/report/convert-summary.js";
import { ONNXRUNTIME_NODE_VERSION } from "../actions/common/onnxruntime.js";
import { writeTestBundle } from "./helpers/onnx-bundle.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-convert-cli-");
let n = 0;
const bundle = async () => (await writeTestBundle(join(dir, `b${++n}`), { numItems: 30, seed: n })).dir;

beforeAll(async () => {
  await initBackend("auto", silentLogger);
});

afterEach(() => {
  vi.restoreAllMocks();
});

function captureStderr(): () => string {
  const chunks: string[] = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return () => chunks.join("");
}

describe("recship convert", () => {
  it("converts a bundle and writes the report", async () => {
    const b = await bundle();
    const reportPath = join(dir, "r1.json");
    const stderr = captureStderr();
    const code = await main(["convert", "--bundle", b, "--top-k", "5", "--opset", "18", "--report", reportPath]);
    expect(stderr()).toMatch(/parity on \d+ sequences/);
    expect(code).toBe(0);
    const report = JSON.parse(readFileSync(reportPath, "utf8"));
    expect(report).toMatchObject({ step: "convert", topK: 5, opset: 18, model: join(b, "model.onnx") });
    expect(report.parity.passed).toBe(true);
    expect(existsSync(join(b, "model.onnx"))).toBe(true);
  });

  it("exits 1 with the reason on bad flags, and writes the report of a failed parity check", async () => {
    const b = await bundle();
    let stderr = captureStderr();
    expect(await main(["convert", "--bundle", b, "--min-top10-agreement", "1.5"])).toBe(1);
    expect(stderr()).toMatch(/error: min-top10-agreement must be a fraction in \(0, 1\]/);
    vi.restoreAllMocks();

    stderr = captureStderr();
    const reportPath = join(dir, "r2.json");
    expect(await main(["convert", "--bundle", b, "--max-abs-diff", "1e-12", "--report", reportPath])).toBe(1);
    expect(stderr()).toMatch(/error: .*does not reproduce the bundle's model/);
    expect(JSON.parse(readFileSync(reportPath, "utf8")).parity.passed).toBe(false);
    expect(existsSync(join(b, "model.onnx"))).toBe(false);
  });
});

describe("convert-onnx job summary", () => {
  it("shows the parity table with the measured figures against the tolerance", async () => {
    const report = await convertBundle({ bundle: await bundle(), randomSequences: 20, log: silentLogger });
    const md = convertSummaryMarkdown(report);
    expect(md).toMatch(/^## recship convert-onnx/);
    expect(md).toContain(`| max \\|Δ\\| of the scores | ${report.parity.maxAbsDiff.toExponential(2)} | ≤ 1.00e-4 | ✅ |`);
    expect(md).toContain("| top-10 agreement, tfjs vs onnxruntime | 100.00% | ≥ 99.90% | ✅ |");
    expect(md).toContain("| output `top_items` | int64 | [batch, 30] |");
    expect(md).not.toContain("❌");
  });

  it("marks failures", async () => {
    const error = (await convertBundle({ bundle: await bundle(), randomSequences: 20, maxAbsDiff: 1e-12, log: silentLogger }).catch(
      (e) => e,
    )) as ParityFailure;
    const md = convertSummaryMarkdown(error.report);
    expect(md).toMatch(/\*\*Parity check failed\*\*/);
    expect(md).toMatch(/\| max \\\|Δ\\\| of the scores \| \d\.\d\de-\d \| ≤ 1\.00e-12 \| ❌ \|/);
    expect(md).toMatch(/\*\*Failures\*\*\n\n- max \|Δ\| of the scores/);
  });
});

describe("convert-onnx action", () => {
  it("installs the onnxruntime-node version package.json pins", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(pkg.dependencies["onnxruntime-node"].replace(/^[\^~]/, "")).toBe(ONNXRUNTIME_NODE_VERSION);
  });
});
