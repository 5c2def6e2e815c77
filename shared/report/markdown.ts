/** Small Markdown builders shared by job summaries, PR comments and the CLI. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(header), `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`, ...rows.map(line)].join("\n");
}

/** A folded block (GitHub renders tables and Mermaid inside it). */
export function details(summary: string, body: string): string {
  return `<details><summary>${summary}</summary>\n\n${body}\n\n</details>`;
}

export function fixed(value: number | undefined, digits = 4): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

/**
 * A Mermaid `xychart-beta` line chart (rendered by GitHub in summaries and comments).
 * Long series are thinned to at most `maxPoints` points.
 */
export function mermaidLineChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: { name: string; values: number[] }[];
  maxPoints?: number;
}): string {
  const maxPoints = options.maxPoints ?? 60;
  const stride = Math.max(1, Math.ceil(options.x.length / maxPoints));
  const keep = options.x.map((_, i) => i).filter((i) => i % stride === 0 || i === options.x.length - 1);
  const all = options.series.flatMap((s) => keep.map((i) => s.values[i])).filter(Number.isFinite);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 0.01;
  const q = (v: number) => Number(v.toPrecision(4));
  const lines = [
    "```mermaid",
    "xychart-beta",
    `  title "${options.title}"`,
    `  x-axis "${options.xLabel}" [${keep.map((i) => options.x[i]).join(", ")}]`,
    `  y-axis "${options.yLabel}" ${q(lo - pad)} --> ${q(hi + pad)}`,
    ...options.series.map((s) => `  line [${keep.map((i) => q(s.values[i])).join(", ")}]`),
    "```",
  ];
  return lines.join("\n");
}

/**
 * A Mermaid `xychart-beta` bar chart over named categories, with optional line series drawn
 * over the bars (e.g. the bounds of an interval), as GitHub renders in summaries and comments.
 */
export function mermaidBarChart(options: {
  title: string;
  yLabel: string;
  categories: string[];
  bars: number[];
  lines?: number[][];
}): string {
  const all = [...options.bars, ...(options.lines ?? []).flat(), 0].filter(Number.isFinite);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
  const q = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(4)) : 0);
  const label = (s: string) => `"${s.replace(/"/g, "'")}"`;
  return [
    "```mermaid",
    "xychart-beta",
    `  title ${label(options.title)}`,
    `  x-axis [${options.categories.map(label).join(", ")}]`,
    `  y-axis ${label(options.yLabel)} ${q(lo - pad)} --> ${q(hi + pad)}`,
    `  bar [${options.bars.map(q).join(", ")}]`,
    ...(options.lines ?? []).map((l) => `  line [${l.map(q).join(", ")}]`),
    "```",
  ].join("\n");
}
