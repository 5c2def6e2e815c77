import { parentPort, workerData } from "node:worker_threads";
import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { initBackend } from "../backend.js";

import { SasrecModel } from "../sasrec-model.js";
import { prepareDistill } from "../distill-objective.js";
import { abortBarrier, arriveAndWait } from "./barrier.js";
import { loadFlat, loadTable, sliceGradients, type StepContext } from "./gradients.js";
import { applyUpdate } from "./update-plan.js";
import type { FromTrainWorker, ToTrainWorker, TrainWorkerData } from "./protocol.js";

/**
 * A training worker thread: its own tfjs engine and copy of the model. Each step it computes
 * the gradient of its slice of the global batch into its row of the shared gradient matrix,
 * waits for the others, applies Adam to its shard of the shared weights (summing every
 * worker's gradient there), waits again, and loads the new weights into its model.
 */
export async function runTrainWorker(): Promise<void> {
  const port = parentPort!;
  const data = workerData as TrainWorkerData;
  const send = (message: FromTrainWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  const log: Logger = {
    info: (message) => send({ type: "log", level: "info", message }),
    warn: (message) => send({ type: "log", level: "warn", message }),
    group: (_title, fn) => fn(),
  };
  const control = new Int32Array(data.shared.control);
  try {
    const backend = await initBackend(data.backend, log);
    const total = data.layout.total;
    const weights = new Float32Array(data.shared.weights);
    const m = new Float32Array(data.shared.m);
    const v = new Float32Array(data.shared.v);
    const grads = Array.from({ length: data.workers }, (_, k) => new Float32Array(data.shared.grads, k * total * 4, total));
    const distill = data.distill ? prepareDistill(data.distill, data.model.hidden) : undefined;
    const ctx: StepContext = { model: data.model, train: data.train, numItems: data.numItems, layout: data.layout, distill };
    const values = new Map(data.fixed);
    for (const e of data.layout.entries) values.set(e.name, weights.slice(e.offset, e.offset + e.size));
    const model = new SasrecModel(data.model, data.numItems, values);
    const part = { index: data.index, count: data.workers };
    let tableStale = false; // lazy steps leave the model's table variable behind the shared weights
    const syncTable = () => {
      if (tableStale) loadTable(model, data.layout, weights);
      tableStale = false;
    };

    const step = async ({ t, learningRate, input, plan }: Extract<ToTrainWorker, { type: "step" }>): Promise<number> => {
      if (!plan.table) syncTable();
      const lazy = plan.table ? { rows: plan.table.rows, weights } : undefined;
      const loss = await sliceGradients(model.params, ctx, input, grads[data.index], lazy);
      arriveAndWait(control, data.workers); // every gradient is written
      applyUpdate({ ...data.adam, learningRate }, t, plan, part, { weights, m, v }, grads);
      arriveAndWait(control, data.workers); // every shard is updated
      loadFlat(model, data.layout, weights, lazy ? "item_emb" : undefined);
      tableStale = lazy !== undefined;
      return loss;
    };

    // one message at a time, in order: steps may be queued while one runs
    let queue = Promise.resolve();
    port.on("message", (message: ToTrainWorker) => {
      queue = queue.then(() => handle(message));
    });
    const handle = async (message: ToTrainWorker) => {
      try {
        if (message.type === "step") send({ type: "stepped", loss: await step(message) });
        else if (message.type === "sync") {
          loadFlat(model, data.layout, weights);
          tableStale = false;
          send({ type: "synced" });
        } else if (message.type === "score") {
          syncTable();
          const scores = model.score(message.histories);
          const whole = scores.byteOffset === 0 && scores.byteLength === scores.buffer.byteLength;
          send({ type: "scored", id: message.id, scores }, whole ? [scores.buffer as ArrayBuffer] : []);
        }
      } catch (error) {
        abortBarrier(control);
        fail(error);
      }
    };
    send({ type: "ready", backend: backend.description });
  } catch (error) {
    abortBarrier(control);
    fail(error);
  }

  function fail(error: unknown): void {
    const e = error as Error;
    send({ type: "failed", message: e?.message ?? String(error), stack: e?.stack, user: error instanceof RecshipError });
  }
}
