import { runAction } from "../common/runtime.js";
import { runConvertOnnx } from "./run.js";

void runAction(runConvertOnnx);
