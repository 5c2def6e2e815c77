import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    // these import JSON without import attributes, which plain Node rejects: let vite transform them
    server: { deps: { inline: ["@actions/workflow-parser", "@actions/languageservice", "@actions/expressions"] } },
  },
});
