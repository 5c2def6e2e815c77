// Builds one ncc bundle per action (plus the CLI and the umbrella action) into dist/.
// `--check` builds into a temp folder and fails when dist/ differs: dist/ is stale.
// Types are checked once by `npm run typecheck` (tsc), so ncc only transpiles.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const check = process.argv.includes("--check");
const target = check ? mkdtempSync(join(tmpdir(), "recship-dist-")) : join(root, "dist");

const entries = [];
for (const name of readdirSync(join(root, "actions"))) {
  const entry = join(root, "actions", name, "index.ts");
  if (existsSync(entry)) entries.push({ name, entry });
}
entries.push({ name: "cli", entry: join(root, "shared", "cli", "main.ts") });

// native runtimes never go into dist/: they are loaded from the runner or a cached tool folder
const externals = ["onnxruntime-node", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"];

const wasmDir = join(root, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist");
const wasmFiles = ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"];

if (!check) rmSync(target, { recursive: true, force: true });
for (const { name, entry } of entries) {
  const out = join(target, name);
  execFileSync(
    join(root, "node_modules", ".bin", "ncc"),
    [
      "build",
      entry,
      "-o",
      out,
      "--quiet",
      "--minify",
      "--license",
      "licenses.txt",
      "--target",
      "es2022",
      ...externals.flatMap((e) => ["-e", e]),
    ],
    {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  for (const f of wasmFiles) cpSync(join(wasmDir, f), join(out, f));
}
// the umbrella action.yml at the top level runs dist/umbrella, a dispatcher to the bundles above
mkdirSync(join(target, "umbrella"), { recursive: true });
cpSync(join(root, "actions", "umbrella", "index.mjs"), join(target, "umbrella", "index.js"));
writeFileSync(join(target, "umbrella", "package.json"), '{ "type": "module" }\n');
// the CLI is the package bin
writeFileSync(join(target, "cli", "package.json"), '{ "type": "module" }\n');

function listFiles(dir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files.push(...listFiles(p).map((f) => join(name, f)));
    else files.push(name);
  }
  return files.sort();
}

if (check) {
  const dist = join(root, "dist");
  const built = listFiles(target);
  const committed = existsSync(dist) ? listFiles(dist) : [];
  const stale = [];
  for (const f of new Set([...built, ...committed])) {
    const a = join(target, f);
    const b = join(dist, f);
    if (!existsSync(a) || !existsSync(b) || !readFileSync(a).equals(readFileSync(b))) stale.push(f);
  }
  rmSync(target, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(
      `dist/ is stale (${stale.length} files differ from a fresh build: ${stale.slice(0, 8).join(", ")}${stale.length > 8 ? ", ..." : ""}).`,
    );
    console.error("Run `npm run build` and commit dist/.");
    process.exit(1);
  }
  console.log(`dist/ is up to date (${built.length} files).`);
} else {
  console.log(`built ${entries.map((e) => relative(root, join(target, e.name))).join(", ")}`);
}
