import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;

describe("README", () => {
  it("starts with the two commands: the demo and the tests", () => {
    const readme = readFileSync(`${root}README.md`, "utf8");
    const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)![1];
    expect(firstBlock).toMatch(/^npm ci && npm run demo/m);
    expect(firstBlock).toMatch(/^npm test/m);
    const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8"));
    expect(pkg.scripts.demo).toBeDefined();
    expect(pkg.scripts.test).toBe("vitest run");
  });

  it("documents every action's inputs and outputs exactly as its action.yml says", () => {
    execFileSync(process.execPath, [`${root}scripts/gen-readme-reference.mjs`, "--check"], { stdio: "pipe" });
  });

  it("the umbrella action.yml is generated from the per-action ones", () => {
    execFileSync(process.execPath, [`${root}scripts/gen-umbrella.mjs`, "--check"], { stdio: "pipe" });
  });

  it("CI calls the README's test command", () => {
    expect(readFileSync(`${root}.ci/run`, "utf8")).toMatch(/^npm test$/m);
  });
});
