// Writes the per-action input/output tables into README.md between
// <!-- reference:<action> --> and <!-- /reference:<action> --> markers, from actions/<action>/action.yml.
// `--check` fails when README.md and the action.yml files disagree.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const root = new URL("..", import.meta.url).pathname;
const readmePath = join(root, "README.md");
let readme = readFileSync(readmePath, "utf8");
const cell = (s) =>
  String(s ?? "")
    .replace(/\|/g, "\\|")
    .replace(/\n/g, " ");

export function referenceTable(action) {
  const rows = ["| input | required | default | description |", "| --- | --- | --- | --- |"];
  for (const [name, spec] of Object.entries(action.inputs ?? {})) {
    rows.push(
      `| \`${name}\` | ${spec.required ? "yes" : "no"} | ${spec.default !== undefined ? `\`${cell(spec.default)}\`` : ""} | ${cell(spec.description)} |`,
    );
  }
  rows.push("", "| output | description |", "| --- | --- |");
  for (const [name, spec] of Object.entries(action.outputs ?? {})) rows.push(`| \`${name}\` | ${cell(spec.description)} |`);
  return rows.join("\n");
}

let changed = false;
const missing = [];
for (const name of readdirSync(join(root, "actions")).sort()) {
  const file = join(root, "actions", name, "action.yml");
  if (!existsSync(file)) continue;
  const start = `<!-- reference:${name} -->`;
  const end = `<!-- /reference:${name} -->`;
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < 0) {
    missing.push(name);
    continue;
  }
  const body = `${start}\n${referenceTable(parse(readFileSync(file, "utf8")))}\n${end}`;
  const current = readme.slice(a, b + end.length);
  if (current !== body) {
    changed = true;
    readme = readme.slice(0, a) + body + readme.slice(b + end.length);
  }
}
if (process.argv.includes("--check")) {
  if (changed || missing.length) {
    console.error(
      `README.md's action reference is out of date${missing.length ? ` (no section for ${missing.join(", ")})` : ""}: run \`node scripts/gen-readme-reference.mjs\``,
    );
    process.exit(1);
  }
  console.log("README action reference is up to date");
} else {
  if (missing.length) console.error(`add markers to README.md for: ${missing.join(", ")}`);
  writeFileSync(readmePath, readme);
  console.log(changed ? "updated README.md" : "README.md already up to date");
}
