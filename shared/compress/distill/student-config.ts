import { RecshipError } from "../../errors.js";
import type { SasrecConfig } from "../../model/config.js";
import { paramSpecs } from "../../model/sasrec.js";

export function parameterCount(config: SasrecConfig, numItems: number): number {
  return paramSpecs(config, numItems).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

export interface StudentShape {
  hidden?: number;
  blocks?: number;
  heads?: number;
  ffnDim?: number;
  /** Largest student/teacher parameter ratio when the hidden size is derived (default 0.5). */
  maxParameterRatio?: number;
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
