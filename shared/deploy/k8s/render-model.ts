import { createHash } from "node:crypto";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IVolume } from "kubernetes-models/v1/Volume";
import { MODEL_MOUNT } from "./names.js";
import type { KubernetesSpec, ModelSource } from "./types.js";

/** Default images of the download step, by URL scheme; `fetchImage` overrides. */
const FETCH_IMAGES = {
  http: "curlimages/curl:8.11.1",
  s3: "amazon/aws-cli:2.17.0",
  gs: "google/cloud-sdk:502.0.0-slim",
} as const;
/** The verify step needs only sh, sha256sum and tar. */
const VERIFY_IMAGE = "busybox:1.37.0";

const VOLUME = "models";

/**
 * Downloads every file listed in $RECSHIP_MODEL_FILES ("sha256 kind name url" lines) into a
 * work folder on the model volume. Skips everything when $RECSHIP_MODEL_DIR is already there
 * and verified (a PVC keeps models between pods). Needs sh and the scheme's tool only.
 */
export const FETCH_SCRIPT = `set -eu
root="\${RECSHIP_MODEL_ROOT:-${MODEL_MOUNT}}"
target="$root/$RECSHIP_MODEL_DIR"
fail() { echo "recship: $1" >&2; echo "recship: $1" > "\${RECSHIP_TERMINATION_LOG:-/dev/termination-log}" 2>/dev/null || true; exit 1; }
if [ -f "$target/.verified" ]; then echo "recship: $RECSHIP_MODEL_DIR is already on the volume"; exit 0; fi
work="$root/.incoming-$RECSHIP_MODEL_DIR-\${HOSTNAME:-pod}"
rm -rf "$work"
mkdir -p "$work"
printf '%s\\n' "$RECSHIP_MODEL_FILES" > "$work/files"
while read -r sha kind name url; do
  [ -n "\${url:-}" ] || continue
  echo "recship: downloading $url"
  case "$url" in
    http://*|https://*) curl --fail --silent --show-error --location --retry 5 --connect-timeout 20 -o "$work/$name.download" "$url" ;;
    s3://*) aws s3 cp --only-show-errors "$url" "$work/$name.download" ;;
    gs://*) gcloud storage cp "$url" "$work/$name.download" ;;
    *) false ;;
  esac || fail "download of $url failed"
done < "$work/files"
`;

/**
 * Checks every download against its sha256, unpacks tarballs, checks there is a bundle.json,
 * and moves the bundle to $RECSHIP_MODEL_DIR/bundle with a .verified mark. A mismatch ends
 * the init container with the reason in its termination message, so the server never starts.
 */
export const VERIFY_SCRIPT = `set -eu
root="\${RECSHIP_MODEL_ROOT:-${MODEL_MOUNT}}"
target="$root/$RECSHIP_MODEL_DIR"
fail() { echo "recship: $1" >&2; echo "recship: $1" > "\${RECSHIP_TERMINATION_LOG:-/dev/termination-log}" 2>/dev/null || true; exit 1; }
if [ -f "$target/.verified" ]; then exit 0; fi
work="$root/.incoming-$RECSHIP_MODEL_DIR-\${HOSTNAME:-pod}"
[ -f "$work/files" ] || fail "nothing was downloaded into $work"
mkdir -p "$work/bundle"
while read -r sha kind name url; do
  [ -n "\${url:-}" ] || continue
  [ -f "$work/$name.download" ] || fail "$url was not downloaded"
  actual=$(sha256sum "$work/$name.download" | cut -d ' ' -f 1)
  [ "$actual" = "$sha" ] || fail "checksum mismatch for $url: expected sha256 $sha, got $actual"
  if [ "$kind" = tar ]; then
    tar -xzf "$work/$name.download" -C "$work/bundle" || fail "could not unpack $url as a .tar.gz"
    rm -f "$work/$name.download"
  else
    mv "$work/$name.download" "$work/bundle/$name"
  fi
done < "$work/files"
if [ ! -f "$work/bundle/bundle.json" ]; then
  for d in "$work"/bundle/*/; do
    if [ -f "\${d}bundle.json" ]; then mv "$d" "$work/unpacked"; rm -rf "$work/bundle"; mv "$work/unpacked" "$work/bundle"; break; fi
  done
fi
[ -f "$work/bundle/bundle.json" ] || fail "the model has no bundle.json (a bundle tarball holds the bundle folder's files)"
staged="$target.staged-\${HOSTNAME:-pod}"
rm -rf "$staged"
mkdir -p "$staged"
mv "$work/bundle" "$staged/bundle"
touch "$staged/.verified"
rm -rf "$work"
if [ -e "$target" ]; then rm -rf "$staged"; else mv "$staged" "$target"; fi
echo "recship: model verified in $target"
`;

/** The folder a model lives in on the volume: named by the checksums, so equal models share it. */
export function modelDir(model: ModelSource): string {
  const h = createHash("sha256");
  h.update(`${model.sha256} ${model.kind}\n`);
  for (const f of model.files ?? []) h.update(`${f.sha256} ${f.name}\n`);
  return `sha256-${h.digest("hex").slice(0, 16)}`;
}

/** Where the server finds the bundle. */
export function bundlePath(model: ModelSource): string {
  return `${MODEL_MOUNT}/${modelDir(model)}/bundle`;
}

/** The lines of $RECSHIP_MODEL_FILES. */
export function modelFileList(model: ModelSource): string {
  const main = model.kind === "onnx" ? `${model.sha256} file model.onnx ${model.url}` : `${model.sha256} tar bundle.tar.gz ${model.url}`;
  return [main, ...(model.files ?? []).map((f) => `${f.sha256} file ${f.name} ${f.url}`)].join("\n");
}

function fetchImage(model: ModelSource, spec: KubernetesSpec): string {
  if (spec.fetchImage) return spec.fetchImage;
  const schemes = new Set([model.url, ...(model.files ?? []).map((f) => f.url)].map((u) => u.slice(0, u.indexOf(":"))));
  if (schemes.has("s3")) return FETCH_IMAGES.s3;
  if (schemes.has("gs")) return FETCH_IMAGES.gs;
  return FETCH_IMAGES.http;
}

/** The two init containers (download, then verify) and the volume they fill. */
export function renderModelDelivery(model: ModelSource, spec: KubernetesSpec): { initContainers: IContainer[]; volume: IVolume } {
  const env = [
    { name: "RECSHIP_MODEL_DIR", value: modelDir(model) },
    { name: "RECSHIP_MODEL_FILES", value: modelFileList(model) },
  ];
  const mount = [{ name: VOLUME, mountPath: MODEL_MOUNT }];
  const common = {
    imagePullPolicy: "IfNotPresent" as const,
    env,
    volumeMounts: mount,
    terminationMessagePolicy: "FallbackToLogsOnError" as const,
    securityContext: { allowPrivilegeEscalation: false },
  };
  const initContainers: IContainer[] = [
    {
      name: "fetch-model",
      image: fetchImage(model, spec),
      command: ["/bin/sh", "-c", FETCH_SCRIPT],
      ...common,
      ...(spec.fetchSecret ? { envFrom: [{ secretRef: { name: spec.fetchSecret } }] } : {}),
      resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
    },
    {
      name: "verify-model",
      image: VERIFY_IMAGE,
      command: ["/bin/sh", "-c", VERIFY_SCRIPT],
      ...common,
      resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    },
  ];
  const volume: IVolume =
    spec.modelVolume.type === "pvc"
      ? { name: VOLUME, persistentVolumeClaim: { claimName: spec.modelVolume.claimName } }
      : { name: VOLUME, emptyDir: spec.modelVolume.sizeLimit ? { sizeLimit: spec.modelVolume.sizeLimit } : {} };
  return { initContainers, volume };
}

export const MODEL_VOLUME_NAME = VOLUME;
