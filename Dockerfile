# syntax=docker/dockerfile:1.7
#
# recship model server image: Node 24 slim, the bundled CLI (dist/cli, from `npm run build`),
# onnxruntime-node, and a model bundle baked in or fetched at start.
#
#   npm run build
#   # the model fetched at start (a .tar.gz of the bundle folder, checked against its sha256):
#   docker build -t recship-serve .
#   docker run -p 8080:8080 -e RECSHIP_BUNDLE_URL=https://…/bundle.tar.gz -e RECSHIP_BUNDLE_SHA256=… recship-serve
#   # (a URL without RECSHIP_BUNDLE_SHA256, or over plain http, is refused unless
#   #  RECSHIP_BUNDLE_ALLOW_UNVERIFIED=true / RECSHIP_BUNDLE_ALLOW_HTTP=true; see docker/recship-serve.sh)
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
# the entry script: fetches and checks the bundle when RECSHIP_BUNDLE_URL is set, then becomes the server
COPY --chmod=755 docker/recship-serve.sh /usr/local/bin/recship-serve
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
