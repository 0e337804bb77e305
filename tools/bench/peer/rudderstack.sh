#!/usr/bin/env bash
# The RudderStack data plane (rudder-server, gateway only) as a local peer for `npm run bench:ingest -- --peer`.
# A benchmark aid, not part of the platform: see tools/bench/peer/README.md.
#
#   tools/bench/peer/rudderstack.sh build                        go install rudder-server@$RUDDER_SERVER_VERSION
#   tools/bench/peer/rudderstack.sh build --from-mirrors <dir>   offline build from git mirrors + replace lines
#   tools/bench/peer/rudderstack.sh up                           PostgreSQL + /features stub + gateway, prints the bench command
#   tools/bench/peer/rudderstack.sh status | down                (down stops everything and deletes the cluster)
#
# Environment: RUDDER_SERVER_BIN (a prebuilt binary), RUDDER_SERVER_VERSION (v1.80.2), RUDDER_CONFIG_YAML (upstream
# config/config.yaml), PEER_WRITE_KEY, PEER_GATEWAY_PORT, PEER_PG_PORT, PG_BIN (/usr/lib/postgresql/<newest>/bin),
# PEER_STATE_DIR (<repo>/.stack/peer), PEER_APP_TYPE (GATEWAY; EMBEDDED adds processor and router).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
STATE=${PEER_STATE_DIR:-$ROOT/.stack/peer}
VERSION=${RUDDER_SERVER_VERSION:-v1.80.2}
WRITE_KEY=${PEER_WRITE_KEY:-bench-peer-write-key}
APP_TYPE=${PEER_APP_TYPE:-GATEWAY}
# Nothing listens on tcpmux: the hosted services rudder-server would call (control plane, reporting...) fail fast.
DEAD_URL=http://127.0.0.1:1

die() {
  echo "rudderstack peer: $*" >&2
  exit 1
}
log() { echo "rudderstack peer: $*"; }

# A free TCP port on loopback (the kernel's choice), or $1 when given.
free_port() {
  if [[ -n "${1:-}" ]]; then
    echo "$1"
    return
  fi
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

pg_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    echo "$PG_BIN"
    return
  fi
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" && -x "$dir/initdb" ]] ||
    die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql, or set PG_BIN)"
  echo "$dir"
}

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

server_bin() {
  local candidate
  for candidate in "${RUDDER_SERVER_BIN:-}" "$STATE/bin/rudder-server" "$(command -v rudder-server || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
      echo "$candidate"
      return
    fi
  done
  if [[ -n "${RUDDER_SERVER_BIN:-}" ]]; then
    die "RUDDER_SERVER_BIN=$RUDDER_SERVER_BIN is not an executable file"
  fi
  die "no rudder-server binary (looked at \$RUDDER_SERVER_BIN, $STATE/bin/rudder-server and PATH).
  Build one: $0 build   (go install github.com/rudderlabs/rudder-server@$VERSION, needs Go and the module proxy)
  or point RUDDER_SERVER_BIN at a prebuilt binary."
}

# Upstream's config/config.yaml, which rudder-server reads through CONFIG_PATH.
config_yaml() {
  local candidate modcache
  modcache=$(go env GOMODCACHE 2>/dev/null || true)
  for candidate in "${RUDDER_CONFIG_YAML:-}" "$STATE/config.yaml" \
    "${modcache:+$modcache/github.com/rudderlabs/rudder-server@$VERSION/config/config.yaml}"; do
    if [[ -n "$candidate" && -f "$candidate" ]]; then
      echo "$candidate"
      return
    fi
  done
}

cmd_build() {
  mkdir -p "$STATE/bin"
  if [[ "${1:-}" == "--from-mirrors" ]]; then
    [[ -n "${2:-}" ]] || die "usage: $0 build --from-mirrors <dir>"
    build_from_mirrors "$2"
    return
  fi
  command -v go >/dev/null || die "Go is needed to build rudder-server (https://go.dev/dl/)"
  log "go install github.com/rudderlabs/rudder-server@$VERSION (several minutes, ~2 GB of memory)"
  CGO_ENABLED=0 GOBIN="$STATE/bin" nice -n "${BUILD_NICE:-10}" \
    go install -trimpath -ldflags "-s -w" "github.com/rudderlabs/rudder-server@$VERSION"
  local modcache
  modcache=$(go env GOMODCACHE)
  cp "$modcache/github.com/rudderlabs/rudder-server@$VERSION/config/config.yaml" "$STATE/config.yaml"
  log "built $STATE/bin/rudder-server"
}

# Where the git mirror of rudderlabs/<name> is under <dir>: <name>.git, <name>, or the fetch tool's layout.
mirror_of() {
  local candidate
  for candidate in "$1/$2.git" "$1/$2" "$1/rudderlabs+$2/repo"; do
    if git --git-dir="$candidate" rev-parse -q --verify HEAD >/dev/null 2>&1 ||
      git -C "$candidate" rev-parse -q --verify HEAD >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
  die "no git mirror of rudderlabs/$2 under $1 (git clone --mirror https://github.com/rudderlabs/$2 $1/$2.git)"
}

# Export <tag> of rudderlabs/<name> into <dest>.
export_tag() {
  local repo
  repo=$(mirror_of "$1" "$2")
  mkdir -p "$4"
  if [[ -d "$repo/.git" ]]; then
    git -C "$repo" archive "$3" | tar -x -C "$4"
  else
    git --git-dir="$repo" archive "$3" | tar -x -C "$4"
  fi
}

# For a module proxy that does not serve github.com/rudderlabs/* (the one this was written on answers 403): the
# server and its rudderlabs modules from git mirrors, wired in with replace lines; every other module from the proxy.
build_from_mirrors() {
  local mirrors build src deps spec name tag module sub
  mirrors=$(cd "$1" && pwd)
  command -v go >/dev/null || die "Go is needed to build rudder-server (https://go.dev/dl/)"
  build="$STATE/build"
  src="$build/rudder-server"
  deps="$build/deps"
  rm -rf "$build"
  mkdir -p "$src" "$deps"
  log "exporting rudder-server $VERSION and its rudderlabs modules from $mirrors"
  export_tag "$mirrors" rudder-server "$VERSION" "$src"
  # name:tag:module path:subdirectory holding the module (versions are what rudder-server v1.80.2's go.mod asks for).
  for spec in \
    analytics-go:v3.3.3:github.com/rudderlabs/analytics-go:. \
    bing-ads-go-sdk:v0.2.3:github.com/rudderlabs/bing-ads-go-sdk:. \
    compose-test:v0.1.3:github.com/rudderlabs/compose-test:. \
    keydb:v1.3.6:github.com/rudderlabs/keydb:. \
    rudder-go-kit:v0.76.2:github.com/rudderlabs/rudder-go-kit:. \
    rudder-observability-kit:v0.0.7:github.com/rudderlabs/rudder-observability-kit:. \
    rudder-schemas:v0.11.0:github.com/rudderlabs/rudder-schemas:. \
    rudder-transformer:go/v1.129.1:github.com/rudderlabs/rudder-transformer/go:go \
    sql-tunnels:v0.1.7:github.com/rudderlabs/sql-tunnels:. \
    sqlconnect-go:v1.25.2:github.com/rudderlabs/sqlconnect-go:. \
    goqu:v10.3.1:github.com/rudderlabs/goqu/v10:. \
    sonnet:v1.0.2:github.com/rudderlabs/sonnet:. \
    parquet-go:v0.0.3:github.com/xitongsys/parquet-go:.; do
    IFS=: read -r name tag module sub <<<"$spec"
    export_tag "$mirrors" "$name" "$tag" "$deps/$name"
    (cd "$src" && go mod edit -replace "$module=$deps/$name/$sub")
  done
  # analytics-go v3.3.3 predates modules.
  [[ -f "$deps/analytics-go/go.mod" ]] || printf 'module github.com/rudderlabs/analytics-go\n\ngo 1.20\n' \
    >"$deps/analytics-go/go.mod"
  # github.com/aws/aws-sdk-go-v2/service/personalizeevents is not served by every proxy: stub that one destination.
  rm -f "$src"/services/streammanager/personalize/*.go
  cat >"$src/services/streammanager/personalize/personalizemanager.go" <<'EOF'
// Package personalize is stubbed in this benchmark build (its AWS SDK module was not available).
package personalize

import (
	"errors"

	backendconfig "github.com/rudderlabs/rudder-server/backend-config"
	"github.com/rudderlabs/rudder-server/services/streammanager/common"
)

func NewProducer(_ *backendconfig.DestinationT, _ common.Opts) (common.Producer, error) {
	return nil, errors.New("personalize destination is not built into this benchmark binary")
}
EOF
  (cd "$src" && go mod edit -droprequire github.com/aws/aws-sdk-go-v2/service/personalizeevents)
  log "go build (about 10 minutes and 2.2 GB of memory on 2 cores with a cold cache)"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n "${BUILD_NICE:-10}" \
    go build -trimpath -ldflags "-s -w" -o "$STATE/bin/rudder-server" .)
  cp "$src/config/config.yaml" "$STATE/config.yaml"
  log "built $STATE/bin/rudder-server"
}

# --peer-pids: the server and its PostgreSQL (with their children), so the bench can weigh CPU per event like with like.
bench_command() {
  echo "npm run bench:ingest -- --peer http://127.0.0.1:$(cat "$STATE/gateway.port") --peer-key $WRITE_KEY" \
    "--peer-pids $(cat "$STATE/rudder-server.pid"),$(head -1 "$STATE/pg/data/postmaster.pid")"
}

cmd_up() {
  local bin pgbin pg_port gw_port stub_port config i
  bin=$(server_bin)
  pgbin=$(pg_bin)
  if alive "$STATE/rudder-server.pid"; then
    log "already up (pid $(cat "$STATE/rudder-server.pid")); benchmark it with:"
    bench_command
    return
  fi
  mkdir -p "$STATE"
  cmd_down quiet
  # A failed start leaves nothing running (the logs stay).
  trap 'cmd_down quiet' EXIT
  config=$(config_yaml)
  [[ -n "$config" ]] || log "warning: no upstream config/config.yaml found (set RUDDER_CONFIG_YAML); using built-in defaults"

  # 1. A throwaway PostgreSQL cluster on loopback, its own port and data directory.
  pg_port=$(free_port "${PEER_PG_PORT:-}")
  mkdir -p "$STATE/pg"
  [[ $(id -u) -ne 0 ]] || chown postgres: "$STATE/pg"
  as_pg "$pgbin/initdb" -D "$STATE/pg/data" -U postgres --auth=trust -E UTF8 >"$STATE/initdb.log" 2>&1 ||
    die "initdb failed, see $STATE/initdb.log"
  as_pg "$pgbin/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/postgresql.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200" start \
    >/dev/null || die "PostgreSQL did not start, see $STATE/pg/postgresql.log"
  echo "$pg_port" >"$STATE/pg.port"
  "$pgbin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE USER rudder PASSWORD 'rudder'" -c "CREATE DATABASE jobsdb OWNER rudder" >/dev/null
  log "PostgreSQL on 127.0.0.1:$pg_port ($STATE/pg/data)"

  # 2. The workspace config rudder-server reads instead of its control plane: one HTTP source, no destinations.
  cat >"$STATE/workspace.json" <<EOF
{
  "workspaceId": "bench-peer-workspace",
  "sources": [
    {
      "id": "bench-peer-source",
      "name": "bench",
      "writeKey": "$WRITE_KEY",
      "enabled": true,
      "workspaceId": "bench-peer-workspace",
      "sourceDefinition": { "id": "bench-peer-http", "name": "HTTP", "category": "webhook" },
      "destinations": []
    }
  ],
  "libraries": []
}
EOF

  # 3. The transformer stub: rudder-server waits for GET <DEST_TRANSFORM_URL>/features before opening its gateway;
  #    a 404 there means "no features", enough without destinations.
  stub_port=$(free_port)
  nohup node -e '
    const http = require("node:http");
    http.createServer((req, res) => { res.writeHead(404, { "content-type": "text/plain" }); res.end("not found\n"); })
      .listen(Number(process.argv[1]), "127.0.0.1");
  ' "$stub_port" >"$STATE/features-stub.log" 2>&1 &
  echo $! >"$STATE/features-stub.pid"

  # 4. rudder-server, gateway only, every hosted-service URL at a dead loopback port.
  gw_port=$(free_port "${PEER_GATEWAY_PORT:-}")
  mkdir -p "$STATE/run" "$STATE/tmp"
  (
    cd "$STATE/run"
    env CONFIG_PATH="$config" \
      DEPLOYMENT_TYPE=DEDICATED APP_TYPE="$APP_TYPE" \
      JOBS_DB_HOST=127.0.0.1 JOBS_DB_PORT="$pg_port" JOBS_DB_USER=rudder JOBS_DB_PASSWORD=rudder \
      JOBS_DB_DB_NAME=jobsdb JOBS_DB_SSL_MODE=disable \
      RSERVER_BACKEND_CONFIG_CONFIG_FROM_FILE=true RSERVER_BACKEND_CONFIG_CONFIG_JSONPATH="$STATE/workspace.json" \
      RSERVER_GATEWAY_WEB_PORT="$gw_port" \
      DEST_TRANSFORM_URL="http://127.0.0.1:$stub_port" \
      RSERVER_WAREHOUSE_MODE=off RSERVER_PROFILER_ENABLED=false RSERVER_ARCHIVAL_ENABLED=false \
      RSERVER_ENABLE_STATS=false RSERVER_DIAGNOSTICS_ENABLE_DIAGNOSTICS=false \
      CONFIG_BACKEND_URL="$DEAD_URL" CP_ROUTER_URL="$DEAD_URL" WAREHOUSE_URL="$DEAD_URL" REPORTING_URL="$DEAD_URL" \
      RSERVER_DIAGNOSTICS_ENDPOINT="$DEAD_URL" SUPPRESS_USER_BACKEND_URL="$DEAD_URL" ALERTA_URL="$DEAD_URL" \
      RUDDER_TMPDIR="$STATE/tmp" LOG_LEVEL="${PEER_LOG_LEVEL:-WARN}" \
      nohup "$bin" >"$STATE/rudder-server.log" 2>&1 &
    echo $! >"$STATE/rudder-server.pid"
  )
  echo "$gw_port" >"$STATE/gateway.port"

  # 5. Ready when an authenticated batch is accepted.
  local auth body code
  auth=$(printf '%s:' "$WRITE_KEY" | base64)
  body='{"batch":[{"type":"track","messageId":"peer-ready-probe","userId":"probe","event":"Probe"}]}'
  for ((i = 0; i < 180; i += 1)); do
    alive "$STATE/rudder-server.pid" || die "rudder-server exited, see $STATE/rudder-server.log"
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 -X POST -H "content-type: application/json" \
      -H "authorization: Basic $auth" --data "$body" "http://127.0.0.1:$gw_port/v1/batch" || true)
    if [[ "$code" == 200 ]]; then
      log "rudder-server ($bin) gateway on http://127.0.0.1:$gw_port (pid $(cat "$STATE/rudder-server.pid"), log $STATE/rudder-server.log)"
      log "benchmark it with:"
      bench_command
      trap - EXIT
      return
    fi
    sleep 1
  done
  die "the gateway did not accept a batch within 180 s (last HTTP status ${code:-none}), see $STATE/rudder-server.log"
}

stop_pid() {
  local file=$1 pid i
  if alive "$file"; then
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i += 1)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

cmd_down() {
  stop_pid "$STATE/rudder-server.pid"
  stop_pid "$STATE/features-stub.pid"
  if [[ -f "$STATE/pg/data/postmaster.pid" ]]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$STATE/pg" "$STATE/run" "$STATE/tmp" "$STATE/pg.port" "$STATE/gateway.port"
  [[ "${1:-}" == quiet ]] || log "down (cluster deleted; the binary stays in $STATE/bin)"
}

cmd_status() {
  if alive "$STATE/rudder-server.pid"; then
    log "up: gateway http://127.0.0.1:$(cat "$STATE/gateway.port") (pid $(cat "$STATE/rudder-server.pid")), PostgreSQL 127.0.0.1:$(cat "$STATE/pg.port")"
    bench_command
  else
    log "down"
  fi
}

case "${1:-}" in
  build) cmd_build "${@:2}" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
