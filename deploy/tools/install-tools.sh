#!/usr/bin/env bash
# Installs the two tools the deploy tests run, built from the Go module proxy (neither needs a Docker
# engine or a cluster):
#   docker compose  the Docker CLI plugin, for `docker compose config` on docker-compose.yml, installed as
#                   ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-compose;
#   kustomize       renders deploy/k8s and its overlays (what `kubectl apply -k` applies), installed as
#                   ${NEWSWIRE_CACHE_DIR:-~/.cache/newswire}/tools/bin/kustomize.
# Each version is built once into the cache; later runs only compare files. Idempotent.
set -euo pipefail

COMPOSE_MODULE=github.com/docker/compose/v5
COMPOSE_VERSION=v5.5.1      # its go.mod needs Go >= 1.26.3
KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5
KUSTOMIZE_VERSION=v5.8.2    # its go.mod needs Go >= 1.26.0

tools_dir="${NEWSWIRE_CACHE_DIR:-$HOME/.cache/newswire}/tools"
plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

# build_cached MODULE VERSION PACKAGE OUTPUT [LDFLAGS]: build PACKAGE of MODULE@VERSION into OUTPUT once.
build_cached() {
  local module=$1 version=$2 package=$3 out=$4 ldflags=${5:-}
  [[ -x "$out" ]] && return 0
  command -v go >/dev/null || { echo "install-tools: Go is needed to build $module@$version" >&2; exit 1; }
  echo "install-tools: building $module@$version (once; cached in $(dirname "$out"))" >&2
  local src
  src="$(cd "$(mktemp -d)" && go mod download -json "$module@$version" |
         sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$src" && -d "$src" ]] || { echo "install-tools: could not download $module@$version" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  # Built as the main module from its own go.mod and go.sum: `go install MODULE@VERSION` refuses
  # modules whose go.mod has exclude or replace directives (compose's has).
  (cd "$src" && GOFLAGS="${GOFLAGS:-} -mod=readonly" \
     go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp.$$" "$package")
  mv -f "$out.tmp.$$" "$out"
}

# install_copy SOURCE TARGET: put SOURCE at TARGET unless an identical file is already there.
install_copy() {
  local source=$1 target=$2
  cmp -s "$source" "$target" 2>/dev/null && return 0
  mkdir -p "$(dirname "$target")"
  cp -f "$source" "$target.tmp.$$" && chmod 0755 "$target.tmp.$$" && mv -f "$target.tmp.$$" "$target"
}

compose_bin="$tools_dir/docker-compose-$COMPOSE_VERSION/docker-compose"
build_cached "$COMPOSE_MODULE" "$COMPOSE_VERSION" ./cmd "$compose_bin" \
  "-X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION"
install_copy "$compose_bin" "$plugin_dir/docker-compose"

kustomize_bin="$tools_dir/kustomize-$KUSTOMIZE_VERSION/kustomize"
build_cached "$KUSTOMIZE_MODULE" "$KUSTOMIZE_VERSION" . "$kustomize_bin"
install_copy "$kustomize_bin" "$tools_dir/bin/kustomize"

echo "docker compose $COMPOSE_VERSION: $plugin_dir/docker-compose"
echo "kustomize $KUSTOMIZE_VERSION: $tools_dir/bin/kustomize"
