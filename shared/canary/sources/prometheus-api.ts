import { RecshipError } from "../../errors.js";
import { SourceUnavailable } from "./source.js";

export interface PrometheusApiOptions {
  /** e.g. http://prometheus:9090 (a path prefix such as /prometheus is kept). */
  url: string;
  /** Extra request headers, e.g. { authorization: "Bearer …" }. */
  headers?: Record<string, string>;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Further attempts after a network error, a timeout, 429 or 5xx (default 2). */
  retries?: number;
  /** First back-off; doubles per retry (default 500 ms). */
  retryDelayMs?: number;
}

export interface VectorSample {
  labels: Record<string, string>;
  value: number;
}

export interface MatrixSeries {
  labels: Record<string, string>;
  values: { time: number; value: number }[];
}

/** Prometheus refused the query itself (bad PromQL, or it failed to run): a user mistake. */
export class PrometheusQueryError extends RecshipError {
  constructor(
    /** What Prometheus said, without the query and the fix. */
    readonly detail: string,
    options: { where: string; fix: string },
  ) {
    super(detail, options);
  }
}

interface ApiResponse {
  status: "success" | "error";
  errorType?: string;
  error?: string;
  warnings?: string[];
  data?: { resultType: string; result: unknown };
}

/**
 * The Prometheus HTTP API: instant (/api/v1/query) and range (/api/v1/query_range) queries by
 * POST, with an auth header, a timeout and retries with back-off. A query Prometheus rejects
 * (400 bad_data, 422 execution) is a PrometheusQueryError; a Prometheus that cannot be
 * reached, times out or keeps answering 5xx is SourceUnavailable.
 */
export class PrometheusApi {
  readonly url: string;

  constructor(private readonly options: PrometheusApiOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new RecshipError(`"${options.url}" is not a URL`, { where: "prometheus url", fix: "e.g. http://prometheus.monitoring:9090" });
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new RecshipError(`the Prometheus URL must be http(s), got "${options.url}"`, { where: "prometheus url" });
    }
    this.url = options.url.replace(/\/+$/, "");
  }

  async instant(query: string, timeMs: number): Promise<VectorSample[]> {
    const data = await this.call("/api/v1/query", { query, time: (timeMs / 1000).toFixed(3) });
    if (data.resultType === "scalar") {
      const [, v] = data.result as [number, string];
      return [{ labels: {}, value: Number(v) }];
    }
    if (data.resultType !== "vector") {
      throw new PrometheusQueryError(`the query returned a ${data.resultType}, not an instant vector`, {
        where: query,
        fix: "aggregate it to a vector, e.g. sum(increase(...[$interval]))",
      });
    }
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  }

  async range(query: string, startMs: number, endMs: number, stepSeconds: number): Promise<MatrixSeries[]> {
    const data = await this.call("/api/v1/query_range", {
      query,
      start: (startMs / 1000).toFixed(3),
      end: (endMs / 1000).toFixed(3),
      step: String(stepSeconds),
    });
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((r) => ({
      labels: r.metric,
      values: r.values.map(([t, v]) => ({ time: t * 1000, value: Number(v) })),
    }));
  }

  private async call(path: string, params: Record<string, string>): Promise<{ resultType: string; result: unknown }> {
    const retries = this.options.retries ?? 2;
    let delay = this.options.retryDelayMs ?? 500;
    let lastProblem = "";
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
      let res: Response;
      try {
        res = await fetch(this.url + path, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", ...this.options.headers },
          body: new URLSearchParams(params).toString(),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        const e = error as Error & { cause?: { code?: string } };
        lastProblem = e.name === "TimeoutError" ? `no answer within ${this.options.timeoutMs ?? 10_000} ms` : (e.cause?.code ?? e.message);
        continue;
      }
      const text = await res.text().catch(() => "");
      let body: ApiResponse | undefined;
      try {
        body = JSON.parse(text) as ApiResponse;
      } catch {
        body = undefined;
      }
      if (res.status === 429 || res.status >= 500) {
        lastProblem = `HTTP ${res.status}${body?.error ? `: ${body.error}` : ""}`;
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw new RecshipError(`Prometheus refused the credentials (HTTP ${res.status})`, {
          where: this.url,
          fix: "check the authorization header / token given for Prometheus",
        });
      }
      if (!body || (body.status !== "success" && body.status !== "error")) {
        throw new RecshipError(`${this.url}${path} did not answer like the Prometheus HTTP API (HTTP ${res.status})`, {
          where: this.url,
          fix: "pass the Prometheus server's base URL (the one whose /api/v1/query answers)",
        });
      }
      if (body.status === "error") {
        throw new PrometheusQueryError(`Prometheus rejected the query (${body.errorType}): ${body.error}`, {
          where: params.query,
          fix: "fix the PromQL (try it in the Prometheus UI with the variables filled in)",
        });
      }
      return body.data!;
    }
    throw new SourceUnavailable(`Prometheus at ${this.url} could not be queried after ${retries + 1} attempts (${lastProblem})`);
  }
}
