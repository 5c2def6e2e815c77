import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import { ENGINE_VERSION, type ModelEvaluation } from "./engine.js";

const MAGIC = "recship-gate-eval\n";

/** What a stored evaluation was computed from: it is reused only when all of it matches. */
export interface EvaluationKey {
  fingerprint: string;
  modelSha256: string;
  topWidth: number;
  engineVersion: number;
}

export function evaluationKey(fingerprint: string, modelSha256: string, topWidth: number): EvaluationKey {
  return { fingerprint, modelSha256, topWidth, engineVersion: ENGINE_VERSION };
}

/** Per-user ranks and top lists, gzipped: a header line of JSON, then int32 arrays. */
export async function writeEvaluation(path: string, key: EvaluationKey, ev: ModelEvaluation): Promise<void> {
  const header = {
    key,
    users: ev.users,
    topWidth: ev.topWidth,
    sampled: Boolean(ev.ranksSampled),
    masked: ev.ranksMasked !== ev.ranksFull,
    unknownTargets: ev.unknownTargets,
    unknownHistoryItems: ev.unknownHistoryItems,
    sameVocabulary: ev.sameVocabulary,
    seconds: ev.seconds,
    scoringSeconds: ev.scoringSeconds,
    peakRssBytes: ev.peakRssBytes,
  };
  const arrays = [
    Int32Array.from(ev.ranksFull),
    ...(ev.ranksMasked !== ev.ranksFull ? [Int32Array.from(ev.ranksMasked)] : []),
    ...(ev.ranksSampled ? [Int32Array.from(ev.ranksSampled)] : []),
    ev.top,
  ];
  const body = Buffer.concat([
    Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`),
    ...arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
  ]);
  await writeFile(path, gzipSync(body, { level: 6 }));
}

function sameKey(a: EvaluationKey, b: EvaluationKey): boolean {
  return (
    a.fingerprint === b.fingerprint && a.modelSha256 === b.modelSha256 && a.topWidth === b.topWidth && a.engineVersion === b.engineVersion
  );
}

/** The stored evaluation if it was computed with exactly `key`, else undefined (damaged files too). */
export async function readEvaluation(path: string, key: EvaluationKey): Promise<ModelEvaluation | undefined> {
  if (!existsSync(path)) return undefined;
  let body: Buffer;
  try {
    body = gunzipSync(await readFile(path));
  } catch {
    return undefined;
  }
  if (body.subarray(0, MAGIC.length).toString() !== MAGIC) return undefined;
  const end = body.indexOf(10, MAGIC.length);
  if (end < 0) return undefined;
  let header: {
    key: EvaluationKey;
    users: number;
    topWidth: number;
    sampled: boolean;
    masked: boolean;
    unknownTargets: number;
    unknownHistoryItems: number;
    sameVocabulary: boolean;
    seconds: number;
    scoringSeconds: number;
    peakRssBytes: number;
  };
  try {
    header = JSON.parse(body.subarray(MAGIC.length, end).toString());
  } catch {
    return undefined;
  }
  if (!sameKey(header.key, key)) return undefined;
  const n = header.users;
  const rankArrays = 1 + (header.masked ? 1 : 0) + (header.sampled ? 1 : 0);
  const data = body.subarray(end + 1);
  if (data.byteLength !== 4 * (n * rankArrays + n * header.topWidth)) return undefined;
  const ints = new Int32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const ranks = (k: number) => Float64Array.from(ints.subarray(k * n, (k + 1) * n));
  const ranksFull = ranks(0);
  return {
    users: n,
    ranksFull,
    ranksMasked: header.masked ? ranks(1) : ranksFull,
    ranksSampled: header.sampled ? ranks(rankArrays - 1) : undefined,
    top: ints.slice(rankArrays * n),
    topWidth: header.topWidth,
    unknownTargets: header.unknownTargets,
    unknownHistoryItems: header.unknownHistoryItems,
    sameVocabulary: header.sameVocabulary,
    seconds: header.seconds,
    scoringSeconds: header.scoringSeconds,
    peakRssBytes: header.peakRssBytes,
  };
}
