import { runAction } from "../common/runtime.js";
import { runTuneModel } from "./run.js";

void runAction(runTuneModel);
