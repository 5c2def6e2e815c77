import { RecshipError } from "../../errors.js";
import type { SasrecConfig } from "../../model/config.js";
import { paramSpecs } from "../../model/sasrec.js";

/** Values a model stores: weights, and a quantized table's codes (fixed, but part of the model). */
export function parameterCount(config: SasrecConfig, numItems: number): number {
  return paramSpecs(config, numItems).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

export interface StudentShape {
  hidden?: number;
  blocks?: number;
  heads?: number;
  ffnDim?: number;
  /** Largest student/teacher parameter ratio when the hidden size (or the codewords of a quantized table) is derived (default 0.5). */
  maxParameterRatio?: number;
  /**
   * Subspaces of a product-quantized item table: the student keeps the teacher's hidden size
   * and blocks, and each item's row is one learned codeword per subspace (absent: a dense table
   * at a smaller hidden size).
   */
  subspaces?: number;
  /** Codewords per subspace (default: the largest power of two within `maxParameterRatio`). */
  centroids?: number;
}

/** The keys of StudentShape (what distillation options say about the student's shape). */
export const STUDENT_SHAPE_KEYS: readonly (keyof StudentShape)[] = [
  "hidden",
  "blocks",
  "heads",
  "ffnDim",
  "maxParameterRatio",
  "subspaces",
  "centroids",
];

/**
 * The student's architecture. By default (no hidden size given) the teacher's, with a
 * product-quantized item table sized to `maxParameterRatio`. With a hidden size, or for a
 * teacher whose hidden size is not a multiple of 4: a dense student; an unspecified hidden size
 * is the largest multiple of the head count (and of 8, when it can be) whose model has at
 * most `maxParameterRatio` of the teacher's parameters. In a recommender the item table is
 * most of them, so this roughly halves the hidden size. ffnDim keeps the teacher's ratio to hidden.
 */
export function studentConfig(teacher: SasrecConfig, numItems: number, shape: StudentShape = {}): SasrecConfig {
  const ratio = shape.maxParameterRatio ?? 0.5;
  const teacherParams = parameterCount(teacher, numItems);
  const blocks = shape.blocks ?? teacher.blocks;
  const make = (hidden: number, heads: number): SasrecConfig => ({
    ...teacher,
    hidden,
    heads,
    blocks,
    ffnDim: shape.ffnDim ?? Math.max(1, Math.round((teacher.ffnDim / teacher.hidden) * hidden)),
  });
  if (shape.subspaces !== undefined) return quantizedStudent(teacher, numItems, shape, ratio * teacherParams);
  // default: a quantized table with codewords of 4 values (on Beauty at 0.46× the parameters it kept 99.7% of
  // the teacher's NDCG@10, a dense student at hidden 32 93%); a model whose item table is too small a share of
  // it for any codebook to fit gets a dense student
  if (shape.hidden === undefined && teacher.hidden % 4 === 0) {
    const make = quantizedMaker(teacher, shape.blocks, teacher.hidden / 4);
    const centroids = largestCentroids(make, numItems, ratio * teacherParams);
    if (centroids > 0) return make(centroids);
  }
  if (shape.hidden !== undefined) {
    const heads = shape.heads ?? (shape.hidden % teacher.heads === 0 ? teacher.heads : 1);
    if (!Number.isInteger(shape.hidden) || shape.hidden < 1 || shape.hidden % heads !== 0) {
      throw new RecshipError(`the student's hidden size ${shape.hidden} must be a positive multiple of its ${heads} heads`, {
        fix: "pick a hidden size divisible by the head count",
      });
    }
    return make(shape.hidden, heads);
  }
  const heads = shape.heads ?? teacher.heads;
  const step = heads % 8 === 0 ? heads : heads * 8 <= teacher.hidden / 2 ? heads * 8 : heads;
  for (let hidden = Math.floor(teacher.hidden / step) * step; hidden >= step; hidden -= step) {
    if (hidden >= teacher.hidden && blocks >= teacher.blocks) continue;
    const c = make(hidden, heads);
    if (parameterCount(c, numItems) <= ratio * teacherParams) return c;
  }
  throw new RecshipError(`no student of the teacher's shape has at most ${ratio}× its ${teacherParams} parameters`, {
    fix: "give the student's hidden size and block count explicitly",
  });
}

/** The teacher with a quantized table of `subspaces` and a given codeword count. */
function quantizedMaker(teacher: SasrecConfig, blocks: number | undefined, subspaces: number) {
  return (centroids: number): SasrecConfig => ({
    ...teacher,
    blocks: blocks ?? teacher.blocks,
    itemTable: { kind: "pq", subspaces, centroids },
  });
}

/** The largest power-of-two codeword count within `maxParameters` (0: none fits). */
function largestCentroids(make: (centroids: number) => SasrecConfig, numItems: number, maxParameters: number): number {
  let centroids = 0;
  for (let c = 2; c <= Math.min(65_536, 2 ** Math.ceil(Math.log2(numItems))); c *= 2) {
    if (parameterCount(make(c), numItems) <= maxParameters) centroids = c;
  }
  return centroids;
}

function quantizedStudent(teacher: SasrecConfig, numItems: number, shape: StudentShape, maxParameters: number): SasrecConfig {
  const subspaces = shape.subspaces!;
  if (shape.hidden !== undefined && shape.hidden !== teacher.hidden) {
    throw new RecshipError(`a student with a quantized item table keeps the teacher's hidden size ${teacher.hidden}; got ${shape.hidden}`, {
      fix: "leave the student's hidden size unset with subspaces, or drop the subspaces",
    });
  }
  if (!Number.isInteger(subspaces) || subspaces < 1 || teacher.hidden % subspaces !== 0) {
    throw new RecshipError(`the quantized item table's subspaces must divide the hidden size ${teacher.hidden}, got ${subspaces}`, {
      fix: `pick a divisor of ${teacher.hidden} (16 for hidden 64: codewords of 4 values)`,
    });
  }
  const make = quantizedMaker(teacher, shape.blocks, subspaces);
  if (shape.centroids !== undefined) {
    if (!Number.isInteger(shape.centroids) || shape.centroids < 2 || shape.centroids > 65_536) {
      throw new RecshipError(`the quantized item table's centroids must be a whole number from 2 to 65536, got ${shape.centroids}`);
    }
    return make(shape.centroids);
  }
  const centroids = largestCentroids(make, numItems, maxParameters);
  if (centroids === 0) {
    throw new RecshipError(`no quantized item table with ${subspaces} subspaces fits in ${Math.round(maxParameters)} parameters`, {
      fix: "pick fewer subspaces or fewer student blocks",
    });
  }
  return make(centroids);
}
