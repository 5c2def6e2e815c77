import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { RecshipError } from "../../errors.js";

/** A kubeconfig written for one step: readable by its owner only, removed by `remove()`. */
export interface KubeconfigFile {
  path: string;
  remove(): Promise<void>;
}

/**
 * The kubeconfig given as text (a secret): as YAML, or base64 of the YAML as some teams
 * store it. Errors never quote the text.
 */
export function decodeKubeconfig(text: string, where: string): string {
  const trimmed = text.trim();
  if (looksLikeKubeconfig(trimmed)) return `${trimmed}\n`;
  if (/^[A-Za-z0-9+/=\s]+$/.test(trimmed)) {
    const decoded = Buffer.from(trimmed.replace(/\s+/g, ""), "base64").toString("utf8").trim();
    if (looksLikeKubeconfig(decoded)) return `${decoded}\n`;
  }
  throw new RecshipError("is not a kubeconfig (YAML with clusters, users and contexts, or base64 of it)", {
    where,
    fix: "pass the whole kubeconfig file, e.g. `kubeconfig: ${{ secrets.KUBECONFIG }}` holding the output of `kubectl config view --raw --minify`",
  });
}

function looksLikeKubeconfig(text: string): boolean {
  try {
    const doc = parseYaml(text) as unknown;
    return !!doc && typeof doc === "object" && Array.isArray((doc as { clusters?: unknown }).clusters);
  } catch {
    return false;
  }
}

const CREDENTIAL_KEY = /token|secret|password|passwd|key|credential|cert/i;

/**
 * The strings a log must never show: the whole text and every credential under `users`
 * (tokens, passwords, key and certificate data, also base64-decoded, exec plugin env values).
 * The action masks them with core.setSecret; the library redacts them from its own messages.
 */
export function kubeconfigSecrets(text: string): string[] {
  const secrets = new Set<string>();
  const add = (s: string) => {
    const t = s.trim();
    if (t.length >= 8) secrets.add(t);
  };
  add(text);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    doc = undefined;
  }
  const users = (doc as { users?: unknown } | undefined)?.users;
  const visit = (value: unknown, key: string, credential: boolean) => {
    if (typeof value === "string") {
      if (!credential) return;
      add(value);
      if (key.endsWith("-data")) {
        const decoded = Buffer.from(value, "base64").toString("utf8");
        add(decoded);
        for (const line of decoded.split("\n")) if (!line.startsWith("-----")) add(line);
      }
    } else if (Array.isArray(value)) value.forEach((v) => visit(v, key, credential));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) visit(v, k, credential || CREDENTIAL_KEY.test(k) || (key === "env" && k === "value"));
    }
  };
  if (Array.isArray(users)) visit(users, "users", false);
  // longest first, so that redacting one does not leave parts of a longer one behind
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** Replaces every secret in `text` by ***. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}

/** Writes the kubeconfig to a fresh folder under `dir`, mode 0600 (the folder 0700). */
export async function writeKubeconfig(text: string, dir: string): Promise<KubeconfigFile> {
  const folder = await mkdtemp(join(dir, "recship-kube-"));
  await chmod(folder, 0o700);
  const path = join(folder, "config");
  await writeFile(path, text, { mode: 0o600, flag: "wx" });
  await chmod(path, 0o600);
  return { path, remove: () => rm(folder, { recursive: true, force: true }) };
}
