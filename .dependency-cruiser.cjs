// The layers (README "Architecture"): building blocks < steps < renderers < the demo < front ends.
// Each may import only from layers below it (and its own folder); no cycles anywhere.
const BLOCKS = "^shared/(util|data|model|onnx|eval|stats|rollout|bundle|github|cache)/|^shared/(errors|log|version)\\.ts$";
const STEPS = "^shared/(train|convert|compress|gate|serve|deploy|canary|tune)/";
const RENDERERS = "^shared/report/";
const DEMO = "^shared/demo/";
const FRONT_ENDS = "^shared/cli/|^actions/";

module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    {
      name: "blocks-import-only-blocks",
      comment: "a building block knows nothing of steps, renderers or front ends",
      severity: "error",
      from: { path: BLOCKS },
      to: { path: [STEPS, RENDERERS, DEMO, FRONT_ENDS] },
    },
    {
      name: "steps-import-no-front-end",
      severity: "error",
      from: { path: STEPS },
      to: { path: [RENDERERS, DEMO, FRONT_ENDS] },
    },
    {
      name: "steps-import-no-other-step",
      comment: "what two steps share belongs in a building block",
      severity: "error",
      from: { path: STEPS },
      // three exceptions: compress-model exports its distilled student with convert-onnx's public
      // entry; monitor-canary moves traffic through deploy-k8s's targets and offers its options;
      // tune-model trains each trial with train-model's public entry (the same training, checks
      // and checkpoints as the winner's later run, not a copy)
      to: {
        path: STEPS,
        pathNot: [
          "^shared/$1/",
          "^shared/convert/convert-bundle\\.ts$",
          "^shared/deploy/k8s/(options|target)\\.ts$",
          "^shared/train/train-model\\.ts$",
        ],
      },
    },
    {
      name: "renderers-import-no-front-end",
      severity: "error",
      from: { path: RENDERERS },
      to: { path: [DEMO, FRONT_ENDS] },
    },
    {
      name: "demo-imports-no-front-end",
      severity: "error",
      from: { path: DEMO },
      to: { path: FRONT_ENDS },
    },
    {
      name: "front-ends-do-not-import-each-other",
      comment: "an action never imports another action or the CLI; the CLI never imports an action",
      severity: "error",
      from: { path: "^(actions/[^/]+|shared/cli)/" },
      to: { path: "^(actions/[^/]+|shared/cli)/", pathNot: ["^$1/", "^actions/common/"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules|test|scripts)/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
