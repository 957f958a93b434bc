# syntax=docker/dockerfile:1
# One image for the three roles: `worker` (LiveKit agent), `pipeline` (queue workers), `api`.
# Node: the current line (26), the one CI runs the test suite on (.ci/run); package.json asks >= 22.
ARG NODE_IMAGE=node:26-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's postinstall would fetch CUDA libraries; the VAD runs on CPU.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# ffmpeg from the distribution (patched by Debian); tini reaps children and forwards SIGTERM,
# so workers get their graceful shutdown.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY prompts ./prompts
COPY templates ./templates
COPY schemas ./schemas
# Numeric, so Kubernetes runAsNonRoot can verify it (the image's "node" user).
USER 1000:1000
# Each role answers HTTP on HEALTHCHECK_URL: the agent worker's health server (HEALTH_PORT 8081, on
# loopback by default, HEALTH_HOST: this check runs inside the container),
# the pipeline's /healthz on METRICS_PORT, or the API's /healthz.
ENV HEALTHCHECK_URL=http://127.0.0.1:8081/
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/cli.js"]
CMD ["worker"]
