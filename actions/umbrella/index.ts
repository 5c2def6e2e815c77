import * as core from "@actions/core";
import { RecshipError } from "../../shared/errors.js";
import { runAction } from "../common/runtime.js";
import { STEPS } from "./steps.js";

void runAction(async () => {
  const step = core.getInput("step", { required: true }).trim();
  const run = STEPS[step];
  if (!run) {
    throw new RecshipError(`unknown step "${step}"`, { where: "input step", fix: `use one of ${Object.keys(STEPS).join(", ")}` });
  }
  await run();
});
