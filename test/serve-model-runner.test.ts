import { describe, expect, it } from "vitest";
import type { InferenceSession } from "onnxruntime-node";
import { ModelRunner } from "../shared/serve/model-runner.js";

// A model refused at load time must not keep its onnxruntime session (and its memory) alive: in
// the main thread the server goes on to report the error, in a worker the thread is kept no longer.
describe("ModelRunner.open", () => {
  it("releases the session when the model is refused, and names what is wrong", async () => {
    let released = 0;
    const session = {
      inputNames: ["input_ids"],
      outputNames: ["scores"],
      release: async () => void released++,
    } as unknown as InferenceSession;
    await expect(ModelRunner.open(session, 20, 100, "model.onnx")).rejects.toThrow(
      /the model has no "item_seq" input \(inputs: input_ids\)/,
    );
    expect(released).toBe(1);
  });
});
