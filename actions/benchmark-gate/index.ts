import { runAction } from "../common/runtime.js";
import { runBenchmarkGate } from "./run.js";

void runAction(runBenchmarkGate);
