import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { openKubeconfig } from "../actions/common/kubeconfig-session.js";
import { kubeconfigSecrets, redact } from "../shared/deploy/k8s/kubeconfig.js";
import { tempDir } from "./helpers/tmp.js";

// What the action masks and the library redacts: every credential in a kubeconfig, also the ones
// that sit in exec plugin arguments and in proxy URLs rather than under a credential-named key.

const TOKEN = "eks-token-0123456789abcdef";
const CLIENT_SECRET = "oidc-client-secret-42424242";
const PROXY_PASSWORD = "proxy-pa55word-xyz";
const PROXY_TOKEN = "proxy-query-token-987654";
const ENV_VALUE = "env-session-token-555555";

const kubeconfig = stringify({
  apiVersion: "v1",
  kind: "Config",
  clusters: [
    {
      name: "prod",
      cluster: {
        server: "https://prod.k8s.example:6443",
        "proxy-url": `http://ops:${PROXY_PASSWORD}@proxy.example:3128/?token=${PROXY_TOKEN}`,
      },
    },
  ],
  users: [
    {
      name: "ci",
      user: {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: "kubelogin",
          args: [
            "get-token",
            "--server-id",
            "6dae42f8-4368-4678-94ff-3960e28e3630",
            `--token=${TOKEN}`,
            "--client-secret",
            CLIENT_SECRET,
            "--token-cache-dir",
            "/home/runner/.kube/cache",
          ],
          env: [{ name: "AWS_SESSION_TOKEN", value: ENV_VALUE }],
        },
      },
    },
  ],
  contexts: [{ name: "prod", context: { cluster: "prod", user: "ci" } }],
  "current-context": "prod",
});

describe("kubeconfigSecrets", () => {
  it("finds exec plugin arguments and environment values, and proxy URL credentials", () => {
    const secrets = kubeconfigSecrets(kubeconfig);
    for (const s of [TOKEN, CLIENT_SECRET, PROXY_PASSWORD, `ops:${PROXY_PASSWORD}`, PROXY_TOKEN, ENV_VALUE]) expect(secrets).toContain(s);
    const line = `exec kubelogin --token=${TOKEN} --client-secret ${CLIENT_SECRET}; proxy ops:${PROXY_PASSWORD}@proxy.example ?token=${PROXY_TOKEN}`;
    const redacted = redact(line, secrets);
    for (const s of [TOKEN, CLIENT_SECRET, PROXY_PASSWORD, PROXY_TOKEN]) expect(redacted).not.toContain(s);
    // what is not a credential stays readable: flags, the plugin's other arguments, the servers
    for (const s of [
      "get-token",
      "--server-id",
      "6dae42f8-4368-4678-94ff-3960e28e3630",
      "/home/runner/.kube/cache",
      "https://prod.k8s.example:6443",
    ]) {
      expect(secrets).not.toContain(s);
    }
  });

  it("finds a JWT passed as a bare argument and a percent-encoded proxy password in its decoded form too", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlLWJ5dGVz";
    const text = stringify({
      clusters: [{ name: "c", cluster: { server: "https://c", "proxy-url": "https://ops:p%40ss-word-1@proxy.example" } }],
      users: [{ name: "u", user: { exec: { command: "get-creds", args: [jwt] } } }],
    });
    const secrets = kubeconfigSecrets(text);
    expect(secrets).toContain(jwt);
    expect(secrets).toContain("p%40ss-word-1");
    expect(secrets).toContain("p@ss-word-1");
  });
});

describe("openKubeconfig (deploy-k8s and monitor-canary)", () => {
  const dir = tempDir("recship-k8s-session-");
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("masks every credential before use, and its folder and signal handlers go on close", () => {
    vi.stubEnv("INPUT_KUBECONFIG", Buffer.from(kubeconfig).toString("base64"));
    vi.stubEnv("RUNNER_TEMP", dir);
    const written: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const listeners = process.listenerCount("SIGTERM");
    const session = openKubeconfig("recship-test-");
    const masks = written
      .join("")
      .split(/\r?\n/)
      .filter((l) => l.startsWith("::add-mask::"));
    for (const s of [TOKEN, CLIENT_SECRET, PROXY_PASSWORD, PROXY_TOKEN, ENV_VALUE]) expect(masks).toContain(`::add-mask::${s}`);
    expect(existsSync(session.dir)).toBe(true);
    expect(process.listenerCount("SIGTERM")).toBe(listeners + 1);
    session.close();
    expect(existsSync(session.dir)).toBe(false);
    expect(process.listenerCount("SIGTERM")).toBe(listeners);
  });
});
