#!/usr/bin/env bash
# Runs inside the build container, as the build user, one subcommand per pipeline step. d7y-build
# assembles the go build arguments (identical for host and plugins) and passes them after "--".
#
#   build.sh deps host <cmd>              go list -deps of cmd/<cmd>, from Dragonfly's own go.mod
#   build.sh deps plugin <name>           go list -deps of a plugin that has its own go.mod
#   build.sh plugin <name> <file> -- ARGS build $D7Y_PLUGIN_SOURCES/<name> into $D7Y_OUT_PLUGINS/<file>
#   build.sh host <cmd>... -- ARGS        build each cmd/<cmd> into $D7Y_OUT_BIN/<cmd>, in one go build
#   build.sh place <file>...              install the plugins where Dragonfly looks for them
#   build.sh validate <cmd> <file>...     place the plugins, then run `<cmd> plugin` (within $D7Y_LOAD_TIMEOUT s,
#                                         behind $D7Y_RUN_PREFIX: qemu-user for another architecture)
#   build.sh loadcheck <type> <name>      load one placed plugin through Dragonfly's own loader
#                                         ($D7Y_LOADCHECK, built like the host)
#   build.sh oom-kills                    how many processes the memory limit has killed so far
#   build.sh host-cache get <key> <cmd>...
#                                         copy the cached $D7Y_OUT_BIN/<cmd>... of <key> into place once
#                                         they match the entry's SHA256SUMS, and print those sums
#                                         ("<sha256>  bin/<cmd>" lines); exit 10: no entry, 11: the
#                                         entry was corrupt (it is removed, the reason on stderr)
#   build.sh host-cache put <key> <cmd>...
#                                         store $D7Y_OUT_BIN/<cmd>... under <key>; prints stored, or
#                                         present when an entry for <key> is already there
#   build.sh tree status                  "ready" when the source-tree volume has its tree, else "missing"
#   build.sh tree sweep <keep>...         remove the unpublished trees (t-*) none of these patterns match
#   build.sh tree publish <dir>           link $D7Y_DRAGONFLY to the uploaded <dir>: "published", or
#                                         "exists" when another build was first (<dir> is removed)
#
# The layout comes from the container's environment, set by d7y-build (src/session/layout.ts):
# $D7Y_DRAGONFLY is the pinned tree, a link into the source-tree volume at $D7Y_SOURCE_VOLUME; $D7Y_PLUGIN_SOURCES/<name> each plugin's source;
# $D7Y_WORKSPACES/<name>/go.work the workspace of a plugin with its own go.mod; $D7Y_OUT_BIN and
# $D7Y_OUT_PLUGINS what is built; $D7Y_DRAGONFLY_PLUGIN_DIR where Dragonfly looks for plugins;
# $D7Y_HOST_CACHE the host cache volume.
set -euo pipefail

missing="is not set: build.sh runs in a d7y-build container, whose environment carries the layout"
: "${D7Y_SOURCE_VOLUME:?$missing}"
: "${D7Y_DRAGONFLY:?$missing}"
: "${D7Y_PLUGIN_SOURCES:?$missing}"
: "${D7Y_WORKSPACES:?$missing}"
: "${D7Y_OUT_BIN:?$missing}"
: "${D7Y_OUT_PLUGINS:?$missing}"
: "${D7Y_LOADCHECK:?$missing}"
: "${D7Y_DRAGONFLY_PLUGIN_DIR:?$missing}"
: "${D7Y_HOST_CACHE:?$missing}"

HOST_MODULE=d7y.io/dragonfly/v2

die() { echo "build.sh: $*" >&2; exit 2; }

# A plugin with its own go.mod is built in a workspace with the pinned Dragonfly tree, so every
# Dragonfly package comes from that tree whatever version the plugin's go.mod names, and the
# plugin's go.mod still decides its other dependencies. Its own requirement on and replacement of
# Dragonfly are dropped from this copy: the workspace module stands in for them. `go work` came with
# Go 1.18; d7y-build refuses such plugins on older Go before anything runs here.
workspace() {
  local name=$1 ws=$D7Y_WORKSPACES/$1
  if [ ! -f "$ws/go.work" ]; then
    mkdir -p "$ws"
    (cd "$D7Y_PLUGIN_SOURCES/$name" && go mod edit -droprequire="$HOST_MODULE" -dropreplace="$HOST_MODULE")
    (cd "$ws" && go work init "$D7Y_DRAGONFLY" "$D7Y_PLUGIN_SOURCES/$name")
  fi
  echo "$ws/go.work"
}

has_go_mod() { [ -f "$D7Y_PLUGIN_SOURCES/$1/go.mod" ]; }

# Loading plugins runs their init functions: one that never returns must not hold the build for
# ever. D7Y_LOAD_TIMEOUT (seconds) bounds it; timeout exits 124, or 137 when the kill was needed.
# D7Y_RUN_PREFIX runs a binary of another architecture than the container's: qemu-user and the
# target's sysroot (e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu"), empty for a native one.
bounded() {
  local prefix=()
  read -r -a prefix <<< "${D7Y_RUN_PREFIX:-}"
  exec timeout --kill-after=5 "${D7Y_LOAD_TIMEOUT:-120}" "${prefix[@]}" "$@"
}

# Only the given plugins, where Dragonfly looks for them.
place() {
  rm -rf "${D7Y_DRAGONFLY_PLUGIN_DIR:?}"/*
  for file in "$@"; do cp "$D7Y_OUT_PLUGINS/$file" "$D7Y_DRAGONFLY_PLUGIN_DIR/$file"; done
}

# The host cache: one directory per key (a hash of everything that makes the host's bytes, computed
# by d7y-build), holding bin/<cmd>... and SHA256SUMS. Entries are written under a temporary name in
# the volume and renamed into place, so a reader finds a whole entry or none; of two builds storing
# one key, the second finds the first's entry and discards its own copy.
HOST_CACHE_MISS=10
HOST_CACHE_CORRUPT=11

# "<sha256>  bin/<cmd>" for each cmd, of the files <dir>/<cmd>: the lines of an entry's SHA256SUMS.
host_sums() {
  local dir=$1 c
  shift
  for c in "$@"; do printf '%s  bin/%s\n' "$(sha256sum < "$dir/$c" | cut -d' ' -f1)" "$c"; done
}

# Copies the entry's files into <staging> and says what is wrong with them, if anything: what is
# used is what was checked, whatever happens to the entry meanwhile.
host_cache_check() {
  local entry=$1 staging=$2 c
  shift 2
  [ -f "$entry/SHA256SUMS" ] || { echo "SHA256SUMS is missing"; return 1; }
  for c in "$@"; do
    cp "$entry/bin/$c" "$staging/$c" 2>/dev/null || { echo "bin/$c is missing or unreadable"; return 1; }
  done
  host_sums "$staging" "$@" > "$staging/.sums"
  [ "$(cat "$staging/.sums")" = "$(cat "$entry/SHA256SUMS")" ] && return 0
  for c in "$@"; do
    grep -qxF "$(host_sums "$staging" "$c")" "$entry/SHA256SUMS" || { echo "bin/$c does not match SHA256SUMS"; return 1; }
  done
  echo "SHA256SUMS lists other files"
  return 1
}

host_cache() {
  local op=${1:-} key=${2:-} entry staging tmp problem c
  shift 2 || die "host-cache get|put <key> <cmd>..."
  [[ $key =~ ^[0-9a-f]{64}$ ]] || die "host-cache: '$key' is not a cache key"
  [ $# -gt 0 ] || die "host-cache: no command given"
  entry=$D7Y_HOST_CACHE/$key
  case "$op" in
    get)
      [ -d "$entry" ] || exit "$HOST_CACHE_MISS"
      staging=$(mktemp -d)
      if ! problem=$(host_cache_check "$entry" "$staging" "$@"); then
        rm -rf "$staging"
        # Out of the way first (a rename), then removed: no build reads half of it.
        tmp=$D7Y_HOST_CACHE/.corrupt-$key-$$
        mv -T "$entry" "$tmp" 2>/dev/null && rm -rf "$tmp"
        echo "$problem" >&2
        exit "$HOST_CACHE_CORRUPT"
      fi
      mkdir -p "$D7Y_OUT_BIN"
      for c in "$@"; do mv "$staging/$c" "$D7Y_OUT_BIN/$c"; done
      # The sums of the files now in place, as checked: d7y-build takes copies it holds by them.
      cat "$staging/.sums"
      rm -rf "$staging"
      ;;
    put)
      if [ -d "$entry" ]; then echo present; return; fi
      # What a build killed while storing left behind: a day is far longer than any copy takes.
      find "$D7Y_HOST_CACHE" -mindepth 1 -maxdepth 1 -name '.tmp-*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
      tmp=$(mktemp -d "$D7Y_HOST_CACHE/.tmp-$key-XXXXXX")
      mkdir "$tmp/bin"
      # The sums of the files this build uses; copies that differ from them fail the check on get.
      host_sums "$D7Y_OUT_BIN" "$@" > "$tmp/SHA256SUMS"
      for c in "$@"; do cp "$D7Y_OUT_BIN/$c" "$tmp/bin/$c"; done
      if mv -T "$tmp" "$entry" 2>/dev/null; then
        echo stored
      else
        rm -rf "$tmp"
        echo present
      fi
      ;;
    *) die "host-cache get|put <key> <cmd>..." ;;
  esac
}

cmd=${1:-}
shift || true
case "$cmd" in
  deps)
    format=$1 what=$2 target=$3
    case "$what" in
      host) cd "$D7Y_DRAGONFLY" && GOWORK=off go list -deps -f "$format" "./cmd/$target" ;;
      plugin)
        has_go_mod "$target" || die "plugin $target has no go.mod"
        gowork=$(workspace "$target")
        cd "$D7Y_PLUGIN_SOURCES/$target" && GOWORK=$gowork go list -deps -f "$format" .
        ;;
      *) die "deps host|plugin" ;;
    esac
    ;;

  plugin)
    name=$1 file=$2
    shift 2
    [ "${1:-}" = "--" ] || die "expected -- before the go build arguments"
    shift
    mkdir -p "$D7Y_OUT_PLUGINS"
    if has_go_mod "$name"; then
      gowork=$(workspace "$name")
      cd "$D7Y_PLUGIN_SOURCES/$name" && GOWORK=$gowork go build -buildmode=plugin "$@" -o "$D7Y_OUT_PLUGINS/$file" .
    else
      # Upstream's style: the plugin's files compiled inside the Dragonfly module.
      shopt -s nullglob
      files=()
      for f in "$D7Y_PLUGIN_SOURCES/$name"/*.go; do
        case "$f" in *_test.go) ;; *) files+=("$f") ;; esac
      done
      [ ${#files[@]} -gt 0 ] || die "no .go files in plugin $name"
      cd "$D7Y_DRAGONFLY" && GOWORK=off go build -buildmode=plugin "$@" -o "$D7Y_OUT_PLUGINS/$file" "${files[@]}"
    fi
    ;;

  host)
    targets=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("./cmd/$1"); shift; done
    [ "${1:-}" = "--" ] || die "expected -- before the go build arguments"
    shift
    mkdir -p "$D7Y_OUT_BIN"
    cd "$D7Y_DRAGONFLY" && GOWORK=off go build "$@" -o "$D7Y_OUT_BIN/" "${targets[@]}"
    ;;

  place)
    place "$@"
    ;;

  validate)
    target=$1
    shift
    place "$@"
    bounded "$D7Y_OUT_BIN/$target" plugin
    ;;

  loadcheck)
    bounded "$D7Y_LOADCHECK" "$D7Y_DRAGONFLY_PLUGIN_DIR" "$1" "$2"
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

  host-cache)
    host_cache "$@"
    ;;

  tree)
    # The source-tree volume is shared by every build of this commit (src/session/source-tree.ts):
    # each tree is uploaded into a directory of its own, t-<run id>, and used only once the link
    # $D7Y_DRAGONFLY names it. `ln -s` fails when the link exists, so the first build to finish its
    # upload publishes, and any other uses that tree. The go commands only read the tree.
    link=${D7Y_DRAGONFLY##*/}
    stamp() { date +%s > "$D7Y_SOURCE_VOLUME/.last-used" 2>/dev/null || true; }
    case "${1:-}" in
      status)
        if [ -L "$D7Y_DRAGONFLY" ] && [ -d "$D7Y_DRAGONFLY/" ]; then stamp; echo ready; else echo missing; fi
        ;;
      sweep)
        shift
        # A link that names no tree was not made by a build: gone, a build publishes again.
        if { [ -e "$D7Y_DRAGONFLY" ] || [ -L "$D7Y_DRAGONFLY" ]; } && ! { [ -L "$D7Y_DRAGONFLY" ] && [ -d "$D7Y_DRAGONFLY/" ]; }; then
          rm -rf "$D7Y_DRAGONFLY"
        fi
        published=$(readlink "$D7Y_DRAGONFLY" 2>/dev/null || true)
        for dir in "$D7Y_SOURCE_VOLUME"/t-*; do
          [ -d "$dir" ] || continue
          name=${dir##*/}
          [ "$name" = "$published" ] && continue
          keep=
          # shellcheck disable=SC2254 # the arguments are patterns
          for pattern in "$@"; do case "$name" in $pattern) keep=1 ;; esac; done
          [ -n "$keep" ] || rm -rf "$dir"
        done
        ;;
      publish)
        dir=$2
        [ -d "$D7Y_SOURCE_VOLUME/$dir" ] || die "no uploaded tree $dir"
        if ln -sT "$dir" "$D7Y_SOURCE_VOLUME/$link" 2>/dev/null; then
          echo published
        else
          rm -rf "${D7Y_SOURCE_VOLUME:?}/$dir"
          echo exists
        fi
        stamp
        ;;
      *) die "tree status|sweep|publish" ;;
    esac
    ;;

  *)
    die "unknown subcommand '$cmd' (deps, plugin, host, place, validate, loadcheck, oom-kills, host-cache, tree)"
    ;;
esac
