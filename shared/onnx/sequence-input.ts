import type { InferenceSession } from "onnxruntime-node";
import { RecshipError } from "../errors.js";

/** The recommender's input: [batch, maxlen] int64 histories. */
const SEQUENCE_INPUT = "item_seq";

/** Where a run's history length came from: the model file, and the bundle.json whose model.config.maxlen sized it. */
export interface SequenceOrigin {
  model: string;
  manifest?: string;
}

const MAXLEN_FIX =
  "model.config.maxlen must be the length the model was exported with: restore bundle.json from the bundle's artifact, or re-run convert-onnx on the bundle";

/** The history length the model's item_seq input is fixed to, when the model declares one. */
function declaredSequenceLength(session: InferenceSession): number | undefined {
  const meta = session.inputMetadata?.find((m) => m.name === SEQUENCE_INPUT);
  if (!meta?.isTensor) return undefined;
  const length = meta.shape[1];
  return typeof length === "number" && length > 0 ? length : undefined;
}

/**
 * Refuses a maxlen the model's item_seq input does not take, before any run: onnxruntime would
 * only say "invalid dimensions" from deep inside the first batch. Names the bundle.json field.
 */
export function checkSequenceLength(session: InferenceSession, maxlen: number, origin: SequenceOrigin): void {
  const declared = declaredSequenceLength(session);
  if (declared === undefined || declared === maxlen) return;
  throw new RecshipError(
    `model.config.maxlen is ${maxlen}, but the model's item_seq input takes histories of ${declared} (${origin.model})`,
    {
      where: origin.manifest ?? origin.model,
      fix: MAXLEN_FIX,
    },
  );
}

/**
 * An onnxruntime failure of the first run on a model that loaded: the model and the bundle.json
 * that sized its input disagree (a hand-edited bundle, or files from different bundles).
 */
export function firstRunFailure(cause: unknown, maxlen: number, origin: SequenceOrigin): RecshipError {
  const reason = ((cause as Error)?.message ?? String(cause)).split("\n")[0];
  return new RecshipError(`onnxruntime could not run ${origin.model} on histories of model.config.maxlen ${maxlen} items: ${reason}`, {
    where: origin.manifest ?? origin.model,
    fix: MAXLEN_FIX,
    cause,
  });
}
