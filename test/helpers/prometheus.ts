import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../shared/deploy/local/free-port.js";

const PROMETHEUS_BIN = process.env.RECSHIP_PROMETHEUS ?? "/usr/bin/prometheus";
const PROMTOOL_BIN = process.env.RECSHIP_PROMTOOL ?? "/usr/bin/promtool";

/** Whether a Prometheus server and promtool are installed (the `prometheus` apt package). */
export function prometheusInstalled(): boolean {
  return existsSync(PROMETHEUS_BIN) && existsSync(PROMTOOL_BIN);
}

export interface PrometheusProcess {
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Replaces the scrape targets (host:port), picked up through file-based discovery. */
  setTargets(targets: string[]): void;
  /** The log so far (stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A real Prometheus on 127.0.0.1 with a temp config: scrapes `targets` every
 * `scrapeIntervalSeconds` (file-based discovery, so targets can change), or serves an existing
 * TSDB (e.g. backfilled) with nothing to scrape. Resolves once /-/ready answers 200.
 */
export async function startPrometheus(options: {
  dir: string;
  targets?: string[];
  scrapeIntervalSeconds?: number;
  dataDir?: string;
  timeoutMs?: number;
}): Promise<PrometheusProcess> {
  mkdirSync(options.dir, { recursive: true });
  const dataDir = options.dataDir ?? join(options.dir, "data");
  const targetsFile = join(options.dir, "targets.json");
  const setTargets = (targets: string[]) => writeFileSync(targetsFile, JSON.stringify([{ targets, labels: {} }]));
  setTargets(options.targets ?? []);
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  const config = join(options.dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      `  scrape_interval: ${interval}`,
      `  scrape_timeout: ${interval}`,
      "scrape_configs:",
      "  - job_name: recship",
      "    file_sd_configs:",
      `      - files: [${JSON.stringify(targetsFile)}]`,
      "        refresh_interval: 1s",
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${dataDir}`,
      "--storage.tsdb.retention.time=100y",
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (gone) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (gone) throw new Error(`prometheus exited before it was ready:\n${log}`);
    try {
      const res = await fetch(`${url}/-/ready`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, dataDir, child, setTargets, output: () => log, stop };
}

/**
 * Writes `text` (OpenMetrics, ending with `# EOF`) as TSDB blocks with
 * `promtool tsdb create-blocks-from openmetrics`; returns the data folder to start Prometheus on.
 */
export function backfillOpenMetrics(text: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const input = join(dir, "input.om");
  writeFileSync(input, text.endsWith("# EOF\n") ? text : `${text}# EOF\n`);
  const dataDir = join(dir, "data");
  const r = spawnSync(PROMTOOL_BIN, ["tsdb", "create-blocks-from", "openmetrics", input, dataDir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`promtool failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return dataDir;
}

/** One variant's recorded traffic, for OpenMetrics test data. */
export interface RecordedVariant {
  labels: Record<string, string>;
  /** Per second of the recording: requests, of which errors; latency observations (seconds); items served, clicks; scores. */
  second(t: number): { requests: number; errors: number; latencies: number[]; served: number; clicks: number; scores: number[] };
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
const SCORE_BUCKETS = [-10, -5, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 50];

/**
 * OpenMetrics text with the model server's series (names and buckets as shared/serve/metrics.ts
 * exposes them) for each variant, one sample every `stepSeconds` from `startSeconds` for
 * `seconds`: what Prometheus would have scraped from stable and canary.
 */
export function recordServerSeries(variants: RecordedVariant[], startSeconds: number, seconds: number, stepSeconds = 5): string {
  const lab = (l: Record<string, string>) =>
    Object.entries(l)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
  const families: Record<string, string[]> = {
    recship_http_requests: [],
    recship_http_request_duration_seconds: [],
    recship_recommendations_served: [],
    recship_feedback: [],
    recship_recommendation_score: [],
    recship_model_ready: [],
  };
  for (const v of variants) {
    const cum = {
      ok: 0,
      err: 0,
      served: 0,
      clicks: 0,
      lat: LATENCY_BUCKETS.map(() => 0),
      latInf: 0,
      latSum: 0,
      sc: SCORE_BUCKETS.map(() => 0),
      scInf: 0,
      scSum: 0,
    };
    for (let t = 0; t <= seconds; t++) {
      if (t > 0) {
        const s = v.second(t);
        cum.ok += s.requests - s.errors;
        cum.err += s.errors;
        cum.served += s.served;
        cum.clicks += s.clicks;
        for (const x of s.latencies) {
          LATENCY_BUCKETS.forEach((le, i) => (cum.lat[i] += x <= le ? 1 : 0));
          cum.latInf++;
          cum.latSum += x;
        }
        for (const x of s.scores) {
          SCORE_BUCKETS.forEach((le, i) => (cum.sc[i] += x <= le ? 1 : 0));
          cum.scInf++;
          cum.scSum += x;
        }
      }
      if (t % stepSeconds !== 0) continue;
      const ts = startSeconds + t;
      const l = lab(v.labels);
      const route = `route="/v1/recommend",method="POST",${l}`;
      families.recship_http_requests.push(`recship_http_requests_total{${route},status="200"} ${cum.ok} ${ts}`);
      families.recship_http_requests.push(`recship_http_requests_total{${route},status="500"} ${cum.err} ${ts}`);
      const lr = `route="/v1/recommend",${l}`;
      LATENCY_BUCKETS.forEach((le, i) =>
        families.recship_http_request_duration_seconds.push(
          `recship_http_request_duration_seconds_bucket{${lr},le="${le}"} ${cum.lat[i]} ${ts}`,
        ),
      );
      families.recship_http_request_duration_seconds.push(
        `recship_http_request_duration_seconds_bucket{${lr},le="+Inf"} ${cum.latInf} ${ts}`,
      );
      families.recship_http_request_duration_seconds.push(`recship_http_request_duration_seconds_count{${lr}} ${cum.latInf} ${ts}`);
      families.recship_http_request_duration_seconds.push(`recship_http_request_duration_seconds_sum{${lr}} ${cum.latSum} ${ts}`);
      families.recship_recommendations_served.push(`recship_recommendations_served_total{${l}} ${cum.served} ${ts}`);
      families.recship_feedback.push(`recship_feedback_total{event="click",outcome="recommended",${l}} ${cum.clicks} ${ts}`);
      SCORE_BUCKETS.forEach((le, i) =>
        families.recship_recommendation_score.push(`recship_recommendation_score_bucket{${l},le="${le}"} ${cum.sc[i]} ${ts}`),
      );
      families.recship_recommendation_score.push(`recship_recommendation_score_bucket{${l},le="+Inf"} ${cum.scInf} ${ts}`);
      families.recship_recommendation_score.push(`recship_recommendation_score_count{${l}} ${cum.scInf} ${ts}`);
      families.recship_recommendation_score.push(`recship_recommendation_score_sum{${l}} ${cum.scSum} ${ts}`);
      families.recship_model_ready.push(`recship_model_ready{${l}} 1 ${ts}`);
    }
  }
  const types: Record<string, string> = {
    recship_http_requests: "counter",
    recship_http_request_duration_seconds: "histogram",
    recship_recommendations_served: "counter",
    recship_feedback: "counter",
    recship_recommendation_score: "histogram",
    recship_model_ready: "gauge",
  };
  const out: string[] = [];
  for (const [name, lines] of Object.entries(families)) {
    out.push(`# TYPE ${name} ${types[name]}`);
    // OpenMetrics wants each series' samples together and in time order
    const bySeries = new Map<string, string[]>();
    for (const line of lines) {
      const key = line.slice(0, line.lastIndexOf(" ", line.lastIndexOf(" ") - 1));
      if (!bySeries.has(key)) bySeries.set(key, []);
      bySeries.get(key)!.push(line);
    }
    for (const group of bySeries.values()) out.push(...group);
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
}
