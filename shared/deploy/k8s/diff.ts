import { stringify } from "yaml";
import type { KubeObject } from "./client.js";

const SERVER_METADATA = ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"];

/** An object as a person compares it: no status, no server bookkeeping in metadata. */
function comparable(object: KubeObject | undefined): Record<string, unknown> | undefined {
  if (!object) return undefined;
  const { status: _status, ...rest } = object;
  const metadata = { ...object.metadata };
  for (const k of SERVER_METADATA) delete metadata[k];
  if (metadata.annotations) {
    const annotations = { ...metadata.annotations };
    delete annotations["deployment.kubernetes.io/revision"];
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
  }
  return { ...rest, metadata };
}

function yamlLines(value: unknown): string[] {
  if (value === undefined) return [];
  return stringify(value, { lineWidth: 0, sortMapEntries: true, aliasDuplicateObjects: false }).trimEnd().split("\n");
}

/** Longest-common-subsequence line diff as +/-/space lines. */
function lineDiff(a: string[], b: string[]): { op: " " | "-" | "+"; line: string }[] {
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: { op: " " | "-" | "+"; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: " ", line: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ op: "-", line: a[i++] });
    else out.push({ op: "+", line: b[j++] });
  }
  while (i < n) out.push({ op: "-", line: a[i++] });
  while (j < m) out.push({ op: "+", line: b[j++] });
  return out;
}

/**
 * Unified diff (3 lines of context) between the live object and what it would become; ""
 * when they are the same. `label` names the object in the ---/+++ header.
 */
export function unifiedDiff(label: string, live: KubeObject | undefined, next: KubeObject | undefined, context = 3): string {
  const a = yamlLines(comparable(live));
  const b = yamlLines(comparable(next));
  const ops = lineDiff(a, b);
  if (!ops.some((o) => o.op !== " ")) return "";
  const keep = ops.map(() => false);
  ops.forEach((o, k) => {
    if (o.op === " ") return;
    for (let d = Math.max(0, k - context); d <= Math.min(ops.length - 1, k + context); d++) keep[d] = true;
  });
  const out = [`--- ${live ? `live ${label}` : "/dev/null"}`, `+++ ${next ? `desired ${label}` : "/dev/null"}`];
  let ai = 1;
  let bi = 1;
  for (let k = 0; k < ops.length;) {
    if (!keep[k]) {
      if (ops[k].op !== "+") ai++;
      if (ops[k].op !== "-") bi++;
      k++;
      continue;
    }
    const start = k;
    const aStart = ai;
    const bStart = bi;
    const hunk: string[] = [];
    while (k < ops.length && keep[k]) {
      hunk.push(`${ops[k].op}${ops[k].line}`);
      if (ops[k].op !== "+") ai++;
      if (ops[k].op !== "-") bi++;
      k++;
    }
    const aLen = ops.slice(start, k).filter((o) => o.op !== "+").length;
    const bLen = ops.slice(start, k).filter((o) => o.op !== "-").length;
    out.push(`@@ -${aLen ? aStart : aStart - 1},${aLen} +${bLen ? bStart : bStart - 1},${bLen} @@`, ...hunk);
  }
  return out.join("\n");
}
