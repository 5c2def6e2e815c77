import { parse } from "@platformatic/promotel";
import { RecshipError } from "../../errors.js";
import type { LabelMatch, SeriesSelector } from "../types.js";

/** One sample line of the exposition format: the name as exposed (with _bucket/_sum/_count) and its labels. */
export interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text exposition format with @platformatic/promotel's parser (labelled
 * histograms keep their labels and their le). Returns every sample with the name it was
 * exposed under.
 */
export function parseExposition(text: string, where: string): ExposedSample[] {
  let request: ReturnType<typeof parse>;
  try {
    request = parse(text);
  } catch (cause) {
    throw new RecshipError(`the metrics are not in the Prometheus text format: ${(cause as Error).message}`, { where, cause });
  }
  const out: ExposedSample[] = [];
  for (const ts of request.timeseries ?? []) {
    const labels: Record<string, string> = {};
    let family = "";
    let suffix = "";
    for (const l of ts.labels ?? []) {
      if (l.name === "__metric_name") family = l.value ?? "";
      else if (l.name === "__suffix") suffix = l.value ?? "";
      else if (l.name) labels[l.name] = l.value ?? "";
    }
    const sample = ts.samples?.[ts.samples.length - 1];
    if (!family || !sample) continue;
    out.push({ name: suffix ? `${family}_${suffix}` : family, labels, value: Number(sample.value) });
  }
  return out;
}

function matches(value: string | undefined, want: LabelMatch): boolean {
  if (typeof want === "string") return value === want;
  return new RegExp(`^(?:${want.regex})$`).test(value ?? "");
}

/** The samples a selector picks (every label matcher must hold). */
export function select(samples: readonly ExposedSample[], selector: SeriesSelector, extra: Record<string, string> = {}): ExposedSample[] {
  return samples.filter(
    (s) =>
      s.name === selector.metric &&
      Object.entries(selector.labels).every(([k, v]) => matches(s.labels[k], v)) &&
      Object.entries(extra).every(([k, v]) => s.labels[k] === v),
  );
}

/** A selector written as PromQL-ish text for reports. */
export function describeSelector(selector: SeriesSelector, extra: Record<string, string> = {}): string {
  const parts = [
    ...Object.entries(selector.labels).map(([k, v]) => (typeof v === "string" ? `${k}="${v}"` : `${k}=~"${v.regex}"`)),
    ...Object.entries(extra).map(([k, v]) => `${k}="${v}"`),
  ];
  return `${selector.metric}{${parts.join(",")}}`;
}

/** A stable key for a sample's labels (le excluded), to pair a series across two scrapes. */
export function seriesKey(sample: ExposedSample, without: string[] = []): string {
  return Object.keys(sample.labels)
    .filter((k) => !without.includes(k))
    .sort()
    .map((k) => `${k}=${sample.labels[k]}`)
    .join(",");
}
