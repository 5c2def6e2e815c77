import { runAction } from "../common/runtime.js";
import { runCompressModel } from "./run.js";

void runAction(runCompressModel);
