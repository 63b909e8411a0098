#!/usr/bin/env bash
# The main job, on a machine with nothing but Node and this clone: start an engine if none answers,
# build the offline Go image and the fixture Dragonfly, then build examples/d7yfs against the
# fixture's v2.1.0, install it, and show the freshly built dfget listing and using it.
#
#   npm run demo            (after npm ci)
#   D7Y_DEMO_DIR=<dir>      keep the output there instead of a temp dir
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

engine_was_up=true
docker info >/dev/null 2>&1 || engine_was_up=false
bash scripts/engine.sh start
cleanup() {
  [ "$engine_was_up" = true ] || bash scripts/engine.sh stop
}
trap cleanup EXIT

work=${D7Y_DEMO_DIR:-$(mktemp -d /tmp/d7y-demo.XXXXXX)}
mkdir -p "$work"
go_image=$(bash scripts/go-image.sh 1.23.5)
rm -rf "$work/dragonfly"
bash test/env/fixture-dragonfly.sh "$work/dragonfly" 2>/dev/null
node scripts/bundle.mjs

echo
echo "== d7y-build --commit v2.1.0 examples/d7yfs"
D7Y_CACHE_DIR="$work/cache" node dist/d7y-build.cjs \
  --commit v2.1.0 \
  --repo "$work/dragonfly" \
  --go-image "$go_image" \
  --out "$work/out" \
  --plugins-dir "$work/plugins" \
  examples/d7yfs

# dfget is built with cgo for the Go image's glibc: run it there, as a Dragonfly node would,
# with the installed plugins where Dragonfly looks for them.
run_dfget() {
  local id
  id=$(docker create "$go_image" sh -c \
    'mkdir -p /usr/local/dragonfly && cp -R /opt/plugins /usr/local/dragonfly/plugins && exec /opt/dfget "$@"' dfget "$@")
  docker cp "$work/out/bin/dfget" "$id:/opt/dfget" >/dev/null
  docker cp "$work/plugins" "$id:/opt/plugins" >/dev/null
  docker start -a "$id" || true
  docker rm -f "$id" >/dev/null
}

echo
echo "== dfget plugin"
run_dfget plugin
echo
echo "== dfget -u d7yfs://demo/hello.txt"
run_dfget -u d7yfs://demo/hello.txt
echo
echo "artifacts and manifest.json: $work/out; installed plugin: $work/plugins"
