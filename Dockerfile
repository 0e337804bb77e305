# One image recipe for every Tributary service; pick the service with a build argument:
#
#   docker build --build-arg SERVICE=leads -t tributary-leads .
#
# SERVICE is one of: ingestion, leads, orchestration, sync, reporting.
# (That list, the case list below and EXPOSE follow tools/services/services.json: `npm run services:sync`.)
# The image runs as an unprivileged numeric user (uid 1000) and writes nothing to its filesystem, so it runs with
# a read-only root filesystem (the Helm chart mounts an emptyDir on /tmp for Node's scratch files).
ARG NODE_IMAGE=node:20-slim

# ---- build: install every dependency, compile the one service, then drop dev dependencies ----
FROM ${NODE_IMAGE} AS build
ARG SERVICE
RUN case "${SERVICE}" in \
      ingestion|leads|orchestration|sync|reporting) ;; \
      *) echo "build with --build-arg SERVICE=<ingestion|leads|orchestration|sync|reporting> (got '${SERVICE}')" >&2; exit 1 ;; \
    esac
WORKDIR /app
ENV CI=true NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true
# Lockfile first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# tsc + tsc-alias into dist/apps/<svc> (rootDir = repo root, so the entry is dist/apps/<svc>/apps/<svc>/src/main.js).
RUN npx nx build "${SERVICE}" \
    && test -f "dist/apps/${SERVICE}/apps/${SERVICE}/src/main.js"
RUN npm prune --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime: production node_modules + the compiled service, nothing else ----
FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
# MALLOC_MMAP_THRESHOLD_: glibc otherwise raises its mmap threshold after the first large free, so Kafka's fetch and
# produce buffers come from heap arenas that keep the freed memory resident: 30-40 MiB of ingestion's RSS after its
# dedupe read-back and under load (docs/architecture.md, "Memory"). Fixed at 128 KiB, large buffers go back at once.
ENV NODE_ENV=production \
    SERVICE=${SERVICE} \
    HTTP_HOST=0.0.0.0 \
    MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
# Owned by root and not writable by the service user: the app never writes next to its code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/apps/${SERVICE} ./dist/apps/${SERVICE}
# The node image's "node" user, by number, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000 3001 3002 3003 3004
# `exec` makes node PID 1, so SIGTERM reaches the service's graceful shutdown (finish batches, commit, disconnect).
CMD ["/bin/sh", "-c", "exec node dist/apps/$SERVICE/apps/$SERVICE/src/main.js"]
