#!/usr/bin/env bash
# Makes sure a helm binary is available for rendering deploy/helm/tributary in tests (tools/deploy/helm-chart.spec.ts),
# without Docker or a download site: builds it from source with `go install` into
#   ${TRIBUTARY_CACHE_DIR:-$HOME/.cache/tributary}/bin/helm
# only when it is missing or another version. Needs Go (>= 1.24) and the Go module proxy; the first build takes a
# few minutes on 2 cores, later runs return at once. Prints where helm is on the last line.
set -euo pipefail

HELM_VERSION="${TRIBUTARY_HELM_VERSION:-v3.22.0}"
# Kubernetes version helm assumes for .Capabilities when not talking to a cluster (`helm template`): release
# builds set it at link time from their client-go version (v0.37 -> 1.37 for helm v3.22); `go install` does not.
HELM_K8S_MINOR="${TRIBUTARY_HELM_K8S_MINOR:-37}"
CACHE="${TRIBUTARY_CACHE_DIR:-$HOME/.cache/tributary}"
BIN_DIR="$CACHE/bin"
HELM="$BIN_DIR/helm"

say() { echo "helm: $*"; }

if [ -x "$HELM" ] && "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  say "$HELM_VERSION already at $HELM"
  exit 0
fi

GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }
if [ -z "$GO" ]; then
  echo "helm: Go is needed to build helm $HELM_VERSION (apt-get install -y golang-go, or https://go.dev/dl/)" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
LOG="$CACHE/helm-build.log"
say "building $HELM_VERSION with $("$GO" version | cut -d' ' -f3) (go install helm.sh/helm/v3/cmd/helm; a few minutes on 2 cores)"
say "build log: $LOG"

pkg=helm.sh/helm/v3
ldflags="-s -w"
ldflags+=" -X $pkg/internal/version.version=$HELM_VERSION"
ldflags+=" -X $pkg/internal/version.gitTreeState=clean"
ldflags+=" -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"
ldflags+=" -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"

start=$(date +%s)
# Built into a private directory and moved into place, so an interrupted build never leaves a broken helm.
staging="$(mktemp -d "$BIN_DIR/.helm-build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
(
  cd "$staging"
  CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$staging" \
    "$GO" install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
) >"$LOG" 2>&1 &
build=$!
while kill -0 "$build" 2>/dev/null; do
  for _ in $(seq 1 30); do
    kill -0 "$build" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$build" 2>/dev/null; then
    say "still building ($(($(date +%s) - start)) s; $(grep -c '^go: downloading' "$LOG" || true) modules downloaded)"
  fi
done
if ! wait "$build"; then
  echo "helm: go install failed after $(($(date +%s) - start)) s; last lines of $LOG:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi
mv -f "$staging/helm" "$HELM"
say "built $("$HELM" version --template '{{.Version}}') in $(($(date +%s) - start)) s"
say "$HELM"
