import { runAction } from "../common/runtime.js";
import { runTrainModel } from "./run.js";

void runAction(runTrainModel);
