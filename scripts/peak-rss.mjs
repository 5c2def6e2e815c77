// Preloaded (`node --import ./scripts/peak-rss.mjs ...`) by bench-scale into each stage's process:
// on exit, writes the process's peak resident set (every thread's: tfjs workers, DuckDB,
// onnxruntime) in bytes to the file RECSHIP_PEAK_RSS_FILE names. Node reports no child's peak to
// its parent, and GNU time is not on every runner.
import { writeFileSync } from "node:fs";

process.on("exit", () => {
  const file = process.env.RECSHIP_PEAK_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
