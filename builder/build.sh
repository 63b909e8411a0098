#!/usr/bin/env bash
# Runs inside the build container, as the build user, one subcommand per pipeline step. d7y-build
# assembles the go build arguments (identical for host and plugins) and passes them after "--".
#
#   build.sh deps host <cmd>              go list -deps of cmd/<cmd>, from Dragonfly's own go.mod
#   build.sh deps plugin <name>           go list -deps of a plugin that has its own go.mod
#   build.sh plugin <name> <file> -- ARGS build /work/plugins/<name> into /work/out/plugins/<file>
#   build.sh host <cmd>... -- ARGS        build each cmd/<cmd> into /work/out/bin/<cmd>, in one go build
#   build.sh place <file>...              install the plugins where Dragonfly looks for them
#   build.sh validate <cmd> <file>...     place the plugins, then run `<cmd> plugin` (within $D7Y_LOAD_TIMEOUT s)
#   build.sh loadcheck <type> <name>      load one placed plugin through Dragonfly's own loader
#                                         (/work/out/bin/d7y-loadcheck, built like the host)
#   build.sh oom-kills                    how many processes the memory limit has killed so far
#
# Layout: /work/dragonfly is the pinned tree; /work/plugins/<name> each plugin's source;
# /work/ws/<name>/go.work the workspace of a plugin with its own go.mod; /work/out what is built.
set -euo pipefail

DRAGONFLY=/work/dragonfly
PLUGINS=/work/plugins
OUT=/work/out
PLUGIN_DIR=/usr/local/dragonfly/plugins
HOST_MODULE=d7y.io/dragonfly/v2

die() { echo "build.sh: $*" >&2; exit 2; }

# A plugin with its own go.mod is built in a workspace with the pinned Dragonfly tree, so every
# Dragonfly package comes from that tree whatever version the plugin's go.mod names, and the
# plugin's go.mod still decides its other dependencies. Its own requirement on and replacement of
# Dragonfly are dropped from this copy: the workspace module stands in for them. `go work` came with
# Go 1.18; d7y-build refuses such plugins on older Go before anything runs here.
workspace() {
  local name=$1 ws=/work/ws/$1
  if [ ! -f "$ws/go.work" ]; then
    mkdir -p "$ws"
    (cd "$PLUGINS/$name" && go mod edit -droprequire="$HOST_MODULE" -dropreplace="$HOST_MODULE")
    (cd "$ws" && go work init "$DRAGONFLY" "$PLUGINS/$name")
  fi
  echo "$ws/go.work"
}

has_go_mod() { [ -f "$PLUGINS/$1/go.mod" ]; }

# Loading plugins runs their init functions: one that never returns must not hold the build for
# ever. D7Y_LOAD_TIMEOUT (seconds) bounds it; timeout exits 124, or 137 when the kill was needed.
bounded() {
  exec timeout --kill-after=5 "${D7Y_LOAD_TIMEOUT:-120}" "$@"
}

# Only the given plugins, where Dragonfly looks for them.
place() {
  rm -rf "${PLUGIN_DIR:?}"/*
  for file in "$@"; do cp "$OUT/plugins/$file" "$PLUGIN_DIR/$file"; done
}

cmd=${1:-}
shift || true
case "$cmd" in
  deps)
    format=$1 what=$2 target=$3
    case "$what" in
      host) cd "$DRAGONFLY" && GOWORK=off go list -deps -f "$format" "./cmd/$target" ;;
      plugin)
        has_go_mod "$target" || die "plugin $target has no go.mod"
        gowork=$(workspace "$target")
        cd "$PLUGINS/$target" && GOWORK=$gowork go list -deps -f "$format" .
        ;;
      *) die "deps host|plugin" ;;
    esac
    ;;

  plugin)
    name=$1 file=$2
    shift 2
    [ "${1:-}" = "--" ] || die "expected -- before the go build arguments"
    shift
    mkdir -p "$OUT/plugins"
    if has_go_mod "$name"; then
      gowork=$(workspace "$name")
      cd "$PLUGINS/$name" && GOWORK=$gowork go build -buildmode=plugin "$@" -o "$OUT/plugins/$file" .
    else
      # Upstream's style: the plugin's files compiled inside the Dragonfly module.
      shopt -s nullglob
      files=()
      for f in "$PLUGINS/$name"/*.go; do
        case "$f" in *_test.go) ;; *) files+=("$f") ;; esac
      done
      [ ${#files[@]} -gt 0 ] || die "no .go files in plugin $name"
      cd "$DRAGONFLY" && GOWORK=off go build -buildmode=plugin "$@" -o "$OUT/plugins/$file" "${files[@]}"
    fi
    ;;

  host)
    targets=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("./cmd/$1"); shift; done
    [ "${1:-}" = "--" ] || die "expected -- before the go build arguments"
    shift
    mkdir -p "$OUT/bin"
    cd "$DRAGONFLY" && GOWORK=off go build "$@" -o "$OUT/bin/" "${targets[@]}"
    ;;

  place)
    place "$@"
    ;;

  validate)
    target=$1
    shift
    place "$@"
    bounded "$OUT/bin/$target" plugin
    ;;

  loadcheck)
    bounded "$OUT/bin/d7y-loadcheck" "$PLUGIN_DIR" "$1" "$2"
    ;;

  oom-kills)
    # cgroup v2, else v1: the kernel counts what the container's memory limit killed.
    for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
      if [ -r "$f" ]; then
        awk '$1 == "oom_kill" { print $2; found = 1 } END { if (!found) print 0 }' "$f"
        exit 0
      fi
    done
    echo 0
    ;;

  *)
    die "unknown subcommand '$cmd' (deps, plugin, host, place, validate, loadcheck, oom-kills)"
    ;;
esac
