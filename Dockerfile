# syntax=docker/dockerfile:1.7
#
# recship model server image: Node 24 slim, the bundled CLI (dist/cli, from `npm run build`),
# onnxruntime-node, and a model bundle baked in or fetched at start.
#
#   npm run build
#   # the model fetched at start (a .tar.gz of the bundle folder, checked against its sha256):
#   docker build -t recship-serve .
#   docker run -p 8080:8080 -e RECSHIP_BUNDLE_URL=https://…/bundle.tar.gz -e RECSHIP_BUNDLE_SHA256=… recship-serve
#   # or a bundle folder mounted at /models/bundle:  docker run -v $PWD/runs/beauty:/models/bundle:ro …
#   # the bundle baked in:
#   docker build --target bundled --build-arg BUNDLE=runs/beauty -t shop-recs:beauty .
#   # GPU: a CUDA 12 + cuDNN 9 runtime base with Node 24, and the CUDA build of onnxruntime-node:
#   docker build --build-arg BASE=<cuda-runtime-image-with-node-24> --build-arg ORT_INSTALL=cuda12 -t recship-serve:gpu .
#   docker run --gpus all … recship-serve:gpu --device cuda
#
# Extra arguments go to `recship serve` (e.g. --max-batch 32 --threads 2 --variant canary).
# The Kubernetes target runs `node dist/cli/index.js serve --bundle … --host 0.0.0.0` itself.
# Keep the build context small with a .dockerignore (node_modules, runs, .git).

ARG BASE=node:24-bookworm-slim

FROM ${BASE} AS runtime
ARG ORT_VERSION=1.30.0
# "skip": CPU only; "cuda12": also the CUDA execution provider (needs a CUDA base image)
ARG ORT_INSTALL=skip
ENV NODE_ENV=production
WORKDIR /opt/recship
# onnxruntime-node is native, so the bundled CLI leaves it out; it is looked up next to dist/
RUN echo '{"name":"recship-runtime","private":true,"type":"module"}' > package.json \
 && ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL} npm install --omit=dev --no-audit --no-fund onnxruntime-node@${ORT_VERSION} \
 && npm cache clean --force
# dist/cli/index.js is a stub that runs the CLI entry of the one shared bundle in dist/recship/
COPY dist/cli/ dist/cli/
COPY dist/recship/ dist/recship/
COPY --chmod=755 <<'SH' /usr/local/bin/recship-serve
#!/bin/sh
# Fetches the bundle when RECSHIP_BUNDLE_URL is set, then becomes the server (PID 1: SIGTERM drains it).
set -eu
BUNDLE_DIR="${RECSHIP_BUNDLE_DIR:-/models/bundle}"
if [ -n "${RECSHIP_BUNDLE_URL:-}" ]; then
  mkdir -p "$BUNDLE_DIR"
  node -e 'const [url, out] = process.argv.slice(1);
    fetch(url).then(async (r) => { if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`); require("fs").writeFileSync(out, Buffer.from(await r.arrayBuffer())); })
      .catch((e) => { console.error(`error: could not download the bundle: ${e.message}`); process.exit(1); })' \
    "$RECSHIP_BUNDLE_URL" /tmp/bundle.tar.gz
  if [ -n "${RECSHIP_BUNDLE_SHA256:-}" ]; then
    echo "${RECSHIP_BUNDLE_SHA256}  /tmp/bundle.tar.gz" | sha256sum -c - >/dev/null \
      || { echo "error: the bundle's sha256 is not RECSHIP_BUNDLE_SHA256" >&2; exit 1; }
  fi
  # the tarball holds bundle.json at its top level or inside one folder
  tar -xzf /tmp/bundle.tar.gz -C "$BUNDLE_DIR"
  rm /tmp/bundle.tar.gz
  if [ ! -f "$BUNDLE_DIR/bundle.json" ]; then
    inner="$(dirname "$(find "$BUNDLE_DIR" -maxdepth 2 -name bundle.json | head -n 1)")"
    [ -n "$inner" ] && [ "$inner" != "." ] && BUNDLE_DIR="$inner"
  fi
fi
exec node /opt/recship/dist/cli/index.js serve --bundle "$BUNDLE_DIR" --host 0.0.0.0 --port "${RECSHIP_PORT:-8080}" "$@"
SH
RUN mkdir -p /models/bundle && chown -R node:node /models
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.RECSHIP_PORT || 8080) + '/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["/usr/local/bin/recship-serve"]

# the bundle baked into the image: --target bundled --build-arg BUNDLE=<bundle folder in the context>
FROM runtime AS bundled
ARG BUNDLE
COPY --chown=node:node ${BUNDLE}/ /models/bundle/

# default target: no bundle inside (RECSHIP_BUNDLE_URL or a volume at /models/bundle)
FROM runtime
