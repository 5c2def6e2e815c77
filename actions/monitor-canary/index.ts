import { runAction } from "../common/runtime.js";
import { runMonitorCanary } from "./run.js";

void runAction(runMonitorCanary);
