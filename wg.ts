import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./shared/model/backend.js";
import { consoleLogger } from "./shared/log.js";
const info = await initBackend("webgpu", consoleLogger());
console.log(info, tf.getBackend());
process.exit(0);
