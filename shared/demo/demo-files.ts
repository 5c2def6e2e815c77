import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compressSummaryMarkdown } from "../report/compress-summary.js";
import { convertSummaryMarkdown } from "../report/convert-summary.js";
import { demoHtml } from "./demo-html.js";
import { gateMarkdown } from "../report/gate-markdown.js";
import { monitorMarkdown } from "../report/monitor-summary.js";
import { trainSummaryMarkdown } from "../report/train-summary.js";
import { validateMarkdown } from "../report/validate-markdown.js";
import type { DemoReport } from "./demo-report.js";

const REPORTS_DIR = "reports";

/** Where a run's reports go: `<out>/demo-report.{json,html}` and each step's Markdown in `<out>/reports/`. */
export function reportPaths(out: string, json?: string): DemoReport["reports"] {
  return { json: json ?? join(out, "demo-report.json"), html: join(out, "demo-report.html"), markdown: {} };
}

/** Writes each step's Markdown summary (the ones that ran), then the JSON and the HTML report. */
export async function writeDemoReports(report: DemoReport): Promise<void> {
  const dir = join(report.out, REPORTS_DIR);
  await mkdir(dir, { recursive: true });
  const steps: [string, string | undefined][] = [
    ["validate", report.validate ? validateMarkdown(report.validate) : undefined],
    ["train", report.train ? trainSummaryMarkdown(report.train) : undefined],
    ["convert", report.convert ? convertSummaryMarkdown(report.convert) : undefined],
    ["compress", report.compress ? compressSummaryMarkdown(report.compress) : undefined],
    ["gate", report.gate ? gateMarkdown(report.gate, { maxChars: 1_000_000 }) : undefined],
    ["monitor", report.monitor ? monitorMarkdown(report.monitor, { maxChars: 1_000_000 }) : undefined],
  ];
  for (const [name, markdown] of steps) {
    if (markdown === undefined) continue;
    const path = join(dir, `${name}.md`);
    await writeFile(path, markdown.endsWith("\n") ? markdown : `${markdown}\n`);
    report.reports.markdown[name] = path;
  }
  await writeFile(report.reports.json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(report.reports.html, demoHtml(report));
}
