import { RecshipError } from "../../errors.js";
import type { SasrecConfig } from "../../model/config.js";
import { isLearned, paramSpecs } from "../../model/sasrec.js";

/** Learned values of a model (fixed indexes such as a mixed table's item_rows are not counted). */
export function parameterCount(config: SasrecConfig, numItems: number): number {
  return paramSpecs(config, numItems)
    .filter(isLearned)
    .reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

export interface StudentShape {
  hidden?: number;
  blocks?: number;
  heads?: number;
  ffnDim?: number;
  /** Largest student/teacher parameter ratio when the hidden size (or the head of a mixed table) is derived (default 0.5). */
  maxParameterRatio?: number;
  /**
   * Width of the tail rows of a mixed-dimension item table: the student keeps the teacher's
   * hidden size and blocks, the most frequent items keep full rows and the rest get rows this
   * wide times a shared projection (absent: a dense table at a smaller hidden size).
   */
  tailDim?: number;
  /** Full-width items of a mixed table (default: as many as `maxParameterRatio` allows). */
  headItems?: number;
}

/**
 * The student's architecture: the teacher's, with the given sizes; an unspecified hidden size
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
  if (shape.tailDim !== undefined) return mixedStudent(teacher, numItems, shape, ratio * teacherParams);
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

function mixedStudent(teacher: SasrecConfig, numItems: number, shape: StudentShape, maxParameters: number): SasrecConfig {
  const tailDim = shape.tailDim!;
  const base: SasrecConfig = { ...teacher, blocks: shape.blocks ?? teacher.blocks };
  if (shape.hidden !== undefined && shape.hidden !== teacher.hidden) {
    throw new RecshipError(`a student with a mixed item table keeps the teacher's hidden size ${teacher.hidden}; got ${shape.hidden}`, {
      fix: "leave the student's hidden size unset with a tail width, or drop the tail width",
    });
  }
  if (!Number.isInteger(tailDim) || tailDim < 1 || tailDim >= teacher.hidden) {
    throw new RecshipError(`the tail width of a mixed item table must be an integer from 1 to ${teacher.hidden - 1}, got ${tailDim}`, {
      fix: `pick a tail width below the hidden size ${teacher.hidden} (8 to 24 for hidden 64)`,
    });
  }
  const make = (headItems: number): SasrecConfig => ({ ...base, itemTable: { headItems, tailDim } });
  if (shape.headItems !== undefined) {
    if (!Number.isInteger(shape.headItems) || shape.headItems < 1 || shape.headItems >= numItems) {
      throw new RecshipError(`the full-width items of a mixed item table must number 1 to ${numItems - 1}, got ${shape.headItems}`);
    }
    return make(shape.headItems);
  }
  // parameters grow by (hidden − tailDim) per head item: the largest head within the budget
  const perHead = teacher.hidden - tailDim;
  const atOne = parameterCount(make(1), numItems);
  const head = Math.floor((maxParameters - atOne) / perHead) + 1;
  if (head < 1) {
    throw new RecshipError(`no mixed item table of tail width ${tailDim} fits in ${Math.round(maxParameters)} parameters`, {
      fix: "pick a smaller tail width or fewer student blocks",
    });
  }
  return make(Math.min(head, numItems - 1));
}
