import { runAction } from "../common/runtime.js";
import { runDeployK8s } from "./run.js";

void runAction(runDeployK8s);
