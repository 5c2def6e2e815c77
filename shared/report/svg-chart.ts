/**
 * Small inline SVG charts for self-contained HTML reports: no scripts, no fonts or styles
 * from elsewhere, every label escaped. Each function returns one `<figure>`.
 */

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

const WIDTH = 640;
const HEIGHT = 260;
const M = { top: 28, right: 16, bottom: 40, left: 64 };

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k. */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi === lo) {
    const pad = Math.abs(hi) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function figure(title: string, body: string, width = WIDTH, height = HEIGHT, caption?: string): string {
  return [
    `<figure class="chart">`,
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    body,
    `</svg>`,
    `<figcaption>${escapeXml(caption ?? title)}</figcaption>`,
    `</figure>`,
  ].join("\n");
}

/** Axes, horizontal grid lines and y tick labels for a plot area; returns the y scale. */
function yAxis(ticks: number[], yLabel: string): { svg: string; y: (v: number) => number } {
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const y = (v: number) => M.top + (HEIGHT - M.top - M.bottom) * (1 - (v - lo) / (hi - lo || 1));
  const parts = ticks.map(
    (t) =>
      `<line x1="${M.left}" x2="${WIDTH - M.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e5e7eb"/>` +
      `<text x="${M.left - 6}" y="${(y(t) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#374151">${tickLabel(t)}</text>`,
  );
  parts.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${HEIGHT - M.bottom}" stroke="#6b7280"/>`,
    `<line x1="${M.left}" x2="${WIDTH - M.right}" y1="${HEIGHT - M.bottom}" y2="${HEIGHT - M.bottom}" stroke="#6b7280"/>`,
    `<text transform="translate(14 ${(M.top + HEIGHT - M.bottom) / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#374151">${escapeXml(yLabel)}</text>`,
  );
  return { svg: parts.join("\n"), y };
}

/** Coloured keys in a row at (x, y); returns the markup. */
function legend(entries: [name: string, color: string][], x: number, y: number): string {
  return entries
    .map(([name, color]) => {
      const item =
        `<rect x="${x}" y="${y}" width="10" height="10" fill="${color}"/>` +
        `<text x="${x + 14}" y="${y + 9}" font-size="11" fill="#374151">${escapeXml(name)}</text>`;
      x += 30 + name.length * 7;
      return item;
    })
    .join("\n");
}

export interface LineSeries {
  name: string;
  values: number[];
  /** Points drawn with a ring around them (e.g. a trial promoted from that rung). */
  marked?: boolean[];
}

/** Lines over a numeric x (e.g. epochs); NaN points are left out. */
export function svgLineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: LineSeries[];
  caption?: string;
}): string {
  const values = o.series.flatMap((s) => s.values).filter(Number.isFinite);
  const { svg: axis, y } = yAxis(niceTicks(Math.min(...values, Infinity), Math.max(...values, -Infinity)), o.yLabel);
  const x0 = Math.min(...o.x);
  const x1 = Math.max(...o.x);
  const x = (v: number) => M.left + 8 + (WIDTH - M.left - M.right - 16) * (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0));
  const integral = o.x.every(Number.isInteger);
  const xTicks = niceTicks(x0, x1, 8).filter((t) => t >= x0 && t <= x1 && (!integral || Number.isInteger(t)));
  const parts = [axis];
  for (const t of xTicks) {
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${HEIGHT - M.bottom + 14}" font-size="11" text-anchor="middle" fill="#374151">${tickLabel(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${(M.left + WIDTH - M.right) / 2}" y="${HEIGHT - 8}" font-size="11" text-anchor="middle" fill="#374151">${escapeXml(o.xLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const points = o.x.map((xv, j) => [xv, s.values[j]] as const).filter(([, v]) => Number.isFinite(v));
    if (points.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(([xv, v]) => `${x(xv).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"/>`,
      );
    }
    for (const [xv, v] of points) parts.push(`<circle cx="${x(xv).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${color}"/>`);
    o.x.forEach((xv, j) => {
      if (s.marked?.[j] && Number.isFinite(s.values[j]))
        parts.push(
          `<circle cx="${x(xv).toFixed(1)}" cy="${y(s.values[j]).toFixed(1)}" r="6" fill="none" stroke="${color}" stroke-width="2"/>`,
        );
    });
  });
  if (o.series.length > 1)
    parts.push(
      legend(
        o.series.map((s, i) => [s.name, PALETTE[i % PALETTE.length]]),
        M.left,
        6,
      ),
    );
  return figure(o.title, parts.join("\n"), WIDTH, HEIGHT, o.caption);
}

export interface Bar {
  label: string;
  value: number;
  /** Drawn in the accent colour (e.g. the chosen variant). */
  highlight?: boolean;
  /** Shown above the bar instead of the value. */
  text?: string;
}

/** Vertical bars over named categories, from zero. */
export function svgBarChart(o: { title: string; yLabel: string; bars: Bar[]; yMax?: number; caption?: string }): string {
  const top = Math.max(o.yMax ?? 0, ...o.bars.map((b) => b.value).filter(Number.isFinite), 0);
  const { svg: axis, y } = yAxis(niceTicks(0, top || 1), o.yLabel);
  const plot = WIDTH - M.left - M.right;
  const slot = plot / Math.max(1, o.bars.length);
  const width = Math.min(64, slot * 0.7);
  const parts = [axis];
  o.bars.forEach((b, i) => {
    const cx = M.left + slot * (i + 0.5);
    const v = Number.isFinite(b.value) ? b.value : 0;
    const yTop = y(v);
    parts.push(
      `<rect x="${(cx - width / 2).toFixed(1)}" y="${yTop.toFixed(1)}" width="${width.toFixed(1)}" height="${(y(0) - yTop).toFixed(1)}" fill="${b.highlight ? "#ea580c" : "#2563eb"}"/>`,
      `<text x="${cx.toFixed(1)}" y="${(yTop - 4).toFixed(1)}" font-size="11" text-anchor="middle" fill="#111827">${escapeXml(b.text ?? tickLabel(v))}</text>`,
      `<text x="${cx.toFixed(1)}" y="${HEIGHT - M.bottom + 14}" font-size="${o.bars.length > 6 ? 9 : 11}" text-anchor="middle" fill="#374151">${escapeXml(b.label)}</text>`,
    );
  });
  return figure(o.title, parts.join("\n"), WIDTH, HEIGHT, o.caption);
}

/** A grid of coloured cells: rows × columns (e.g. checks × analysis intervals), with a legend. */
export function svgDecisionGrid(o: {
  title: string;
  rows: string[];
  columns: string[];
  /** cells[row][column]: a key of `colors`, or undefined (blank). */
  cells: (string | undefined)[][];
  colors: Record<string, string>;
  caption?: string;
}): string {
  const cell = 28;
  const left = 130;
  const top = 24;
  const width = Math.max(WIDTH / 2, left + o.columns.length * cell + 20);
  const height = top + o.rows.length * cell + 36;
  const parts: string[] = [];
  o.columns.forEach((c, j) => {
    parts.push(
      `<text x="${left + j * cell + cell / 2}" y="${top - 8}" font-size="11" text-anchor="middle" fill="#374151">${escapeXml(c)}</text>`,
    );
  });
  o.rows.forEach((r, i) => {
    parts.push(
      `<text x="${left - 8}" y="${top + i * cell + cell / 2 + 4}" font-size="11" text-anchor="end" fill="#374151">${escapeXml(r)}</text>`,
    );
    o.columns.forEach((_, j) => {
      const key = o.cells[i]?.[j];
      const fill = key ? (o.colors[key] ?? "#9ca3af") : "#f3f4f6";
      parts.push(
        `<rect x="${left + j * cell + 2}" y="${top + i * cell + 2}" width="${cell - 4}" height="${cell - 4}" rx="3" fill="${fill}">` +
          `<title>${escapeXml(`${r}, ${o.columns[j]}: ${key ?? "not judged"}`)}</title></rect>`,
      );
    });
  });
  parts.push(legend(Object.entries(o.colors), 8, height - 20));
  return figure(o.title, parts.join("\n"), width, height, o.caption);
}
