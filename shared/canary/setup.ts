import type { DeployStatus } from "../rollout/target.js";
import { RecshipError } from "../errors.js";
import { PrometheusSource } from "./sources/prometheus-source.js";
import { ScrapeSource } from "./sources/scrape-source.js";
import type { MetricSource } from "./sources/source.js";
import type { Variant } from "./types.js";

export interface SourceOptions {
  /** The Prometheus server; none: scrape the servers' /metrics directly. */
  prometheusUrl?: string;
  /** Request headers for Prometheus (an Authorization header, a tenant id, …). */
  headers?: Record<string, string>;
  timeoutMs?: number;
  retries?: number;
  /** Scrape source: each variant's server; default: the endpoints the deploy target reports. */
  endpoints?: Partial<Record<Variant, string>>;
}

/** "Authorization: Bearer x" lines (or a list of them) as headers. */
export function parseHeaders(lines: readonly string[], where: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i <= 0) throw new RecshipError(`"${line.replace(/:.*/, ": …")}" is not "Name: value"`, { where });
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

/** "stable=http://…,canary=http://…" */
export function parseEndpoints(text: string, where: string): Partial<Record<Variant, string>> {
  const out: Partial<Record<Variant, string>> = {};
  for (const part of text.split(/[,\s]+/).filter(Boolean)) {
    const [k, ...rest] = part.split("=");
    if ((k !== "stable" && k !== "canary") || !rest.length) {
      throw new RecshipError(`"${part}" is not stable=<url> or canary=<url>`, { where });
    }
    out[k] = rest
      .join("=")
      .replace(/\/+$/, "")
      .replace(/\/metrics$/, "");
  }
  return out;
}

/**
 * The metric source: Prometheus when a URL is given, else the embedded scrape of both servers'
 * /metrics (their endpoints from the options or from the deploy target's status).
 */
export function createSource(o: SourceOptions, status?: DeployStatus, targetName?: string): MetricSource {
  if (o.prometheusUrl) {
    return new PrometheusSource({
      url: o.prometheusUrl,
      ...(o.headers ? { headers: o.headers } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.retries !== undefined ? { retries: o.retries } : {}),
    });
  }
  const stable = o.endpoints?.stable ?? (targetName === "local" ? status?.stable?.endpoint : undefined);
  const canary = o.endpoints?.canary ?? (targetName === "local" ? status?.canary?.endpoint : undefined);
  if (!stable || !canary) {
    throw new RecshipError("without a Prometheus URL the servers' /metrics are scraped, but their addresses are unknown", {
      fix:
        targetName === "kubernetes"
          ? "pass the Prometheus URL that scrapes the cluster (prometheus-url / --prometheus-url)"
          : "pass the Prometheus URL, or the servers as --scrape stable=<url>,canary=<url>",
    });
  }
  return new ScrapeSource({
    endpoints: { stable, canary },
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.retries !== undefined ? { retries: o.retries } : {}),
  });
}

/** The drift watch's source: it judges a past window against the one before it, which only Prometheus keeps. */
export function createWatchSource(o: SourceOptions): PrometheusSource {
  if (!o.prometheusUrl) {
    throw new RecshipError("mode watch needs Prometheus: it judges the last window against the one before it, from Prometheus' history", {
      fix: "pass the Prometheus URL that scrapes the model servers (prometheus-url / --prometheus-url)",
    });
  }
  return createSource(o) as PrometheusSource;
}
