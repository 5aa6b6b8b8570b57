#!/usr/bin/env bash
# Builds Apache Beam's Prism runner (a Go program) from the Go module proxy and prints its path.
#
# Beam's PrismRunner downloads a prebuilt binary from GitHub release pages by default; where only
# package registries are reachable that fails, so we build the same release with `go install` into a
# per-user cache outside the repository and hand its path to `--prism_location`. Idempotent: a binary
# already built for the version is reused (nothing is fetched). The version follows the apache-beam
# pin in requirements.in, so the runner always matches the SDK; PRISM_VERSION=vX.Y.Z overrides it.
#
#   deploy/tools/install-prism.sh            -> /root/.cache/newswire/prism-v2.77.0/prism
#   newswire run ... --runner PrismRunner --prism_location "$(deploy/tools/install-prism.sh)"
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"

version="${PRISM_VERSION:-}"
if [ -z "$version" ]; then
  pin="$(sed -n 's/^apache-beam==\([0-9][0-9.]*\).*$/\1/p' "$repo/requirements.in")"
  [ -n "$pin" ] || { echo "install-prism: no apache-beam==X.Y.Z pin in requirements.in" >&2; exit 1; }
  version="v$pin"
fi
case "$version" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "install-prism: bad version '$version'" >&2; exit 1 ;; esac

cache="${NEWSWIRE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/newswire}/prism-$version"
binary="$cache/prism"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || [ ! -x /usr/local/go/bin/go ] || go_bin=/usr/local/go/bin/go
[ -n "$go_bin" ] || { echo "install-prism: needs Go (https://go.dev/doc/install) on PATH" >&2; exit 1; }

mkdir -p "$cache"
# Build into a private folder and rename into place, so a concurrent or interrupted run never
# leaves a half-written binary where the next run would trust it.
work="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "install-prism: building github.com/apache/beam/sdks/v2/go/cmd/prism@$version (first time only)" >&2
GOBIN="$work" GOFLAGS="${GOFLAGS:--buildvcs=false}" "$go_bin" install "github.com/apache/beam/sdks/v2/go/cmd/prism@$version" >&2
"$work/prism" --help >/dev/null 2>&1 || { echo "install-prism: the built binary does not run" >&2; exit 1; }
mv -f "$work/prism" "$binary"
echo "$binary"
