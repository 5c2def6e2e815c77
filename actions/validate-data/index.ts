import { runAction } from "../common/runtime.js";
import { runValidateData } from "./run.js";

void runAction(runValidateData);
