import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { RecshipError } from "../../errors.js";
import { urlSecrets } from "../../util/url-credentials.js";

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
 * Exec plugin flags whose value is a credential (--token, --password, --client-secret, --api-key...),
 * but not those naming where one is kept (--token-file, --token-cache-dir), whose paths stay readable.
 */
const CREDENTIAL_FLAG = /token|secret|password|passwd|credential|key/i;
const LOCATION_FLAG = /[-_](file|path|dir|cache|url)$/i;
/** A bare JSON Web Token (an OIDC id token passed straight to a plugin). */
const JWT = /^eyJ[\w-]+\.[\w-]+\.[\w-]*$/;

/** The credentials among an exec plugin's arguments: `--token=x`, `--token x`, a bare JWT. */
function execArgSecrets(args: readonly unknown[]): string[] {
  const out: string[] = [];
  args.forEach((arg, i) => {
    if (typeof arg !== "string") return;
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (/^--?\w/.test(flag) && CREDENTIAL_FLAG.test(flag) && !LOCATION_FLAG.test(flag)) {
      const next = args[i + 1];
      if (eq > 0) out.push(arg.slice(eq + 1));
      else if (typeof next === "string" && !next.startsWith("-")) out.push(next);
    } else if (JWT.test(arg)) out.push(arg);
  });
  return out;
}

/**
 * Credentials under `users`: every string under a credential-named key (tokens, passwords, key and
 * certificate data, also base64-decoded), exec plugin env values and credential arguments.
 */
function userSecrets(users: unknown): string[] {
  const out: string[] = [];
  const visit = (value: unknown, key: string, credential: boolean) => {
    if (typeof value === "string") {
      if (!credential) return;
      out.push(value);
      if (key.endsWith("-data")) {
        const decoded = Buffer.from(value, "base64").toString("utf8");
        out.push(decoded, ...decoded.split("\n").filter((line) => !line.startsWith("-----")));
      }
    } else if (Array.isArray(value)) {
      if (key === "args" && !credential) out.push(...execArgSecrets(value));
      value.forEach((v) => visit(v, key, credential));
    } else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) visit(v, k, credential || CREDENTIAL_KEY.test(k) || (key === "env" && k === "value"));
    }
  };
  if (Array.isArray(users)) visit(users, "users", false);
  return out;
}

/** Credentials in the clusters' URLs: user:password@ and token-like query parameters of a proxy-url (or server). */
function clusterSecrets(clusters: unknown): string[] {
  if (!Array.isArray(clusters)) return [];
  return clusters.flatMap((entry: unknown) => {
    const cluster = (entry as { cluster?: Record<string, unknown> } | null)?.cluster;
    if (!cluster || typeof cluster !== "object") return [];
    return ["proxy-url", "server"].flatMap((k) => (typeof cluster[k] === "string" ? urlSecrets(cluster[k]) : []));
  });
}

/**
 * The strings a log must never show: the whole text, every credential under `users` (see
 * userSecrets) and those in the clusters' proxy URLs. The action masks them with core.setSecret;
 * the library redacts them from its own messages.
 */
export function kubeconfigSecrets(text: string): string[] {
  let doc: { users?: unknown; clusters?: unknown } | undefined;
  try {
    doc = parseYaml(text) as typeof doc;
  } catch {
    doc = undefined;
  }
  const all = [text, ...userSecrets(doc?.users), ...clusterSecrets(doc?.clusters)].map((s) => s.trim());
  // shorter strings are too common to mask without hiding ordinary words in every log
  const secrets = new Set(all.filter((s) => s.length >= 8));
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
