#!/usr/bin/env bash
# Build a Go base image with no container registry: the stand-in for `golang:<version>-bookworm`.
#
#   scripts/go-image.sh [--check] [GO_VERSION]     default: $D7Y_GO_VERSION or 1.23.5
#
# GO_VERSION is a release (1.20.14, 1.23.5, 1.21rc2) or a minor (1.20), which stands for that
# minor's last patch release as listed in src/toolchain/go-releases.json, the table d7y-build picks
# default images by. --check only checks GO_VERSION and prints the image it would build.
#
# Prints the image reference on stdout (d7y-build/golang:<version>-bookworm); pass it to
# `d7y-build --go-image`. Steps, each skipped when its image already exists:
#   1. debootstrap a minimal Debian bookworm from the machine's own apt mirror, `docker import` it;
#   2. on top: gcc, libc6-dev, git, ca-certificates and Debian's Go 1.23 from bookworm-backports;
#   3. the exact official Go release, fetched by that Go through the Go module proxy, installed at
#      /usr/local/go with the environment of the official golang image. The proxy serves every
#      official release as the module golang.org/toolchain (v0.0.1-go<version>.linux-<arch>), old
#      ones too (go1.17.13, go1.20.14), although only Go 1.21 and newer switch to it on their own.
# Every release is built on bookworm, also those whose official images stop at bullseye (Go 1.18
# and older): the host and its plugins are built in the same image, so they link the same libc.
# The image trusts the CA bundle this machine trusts (/etc/ssl/certs/ca-certificates.crt, or
# $D7Y_CA_BUNDLE), so that containers reach the Go module proxy through the same TLS gateway as
# the machine itself. Steps 2 and 3 are scripts/go-image.Dockerfile.
set -euo pipefail

check_only=false
if [ "${1:-}" = "--check" ]; then
  check_only=true
  shift
fi
[ $# -le 1 ] || { echo "usage: go-image.sh [--check] [GO_VERSION]" >&2; exit 2; }
go_version=${1:-${D7Y_GO_VERSION:-1.23.5}}
here=$(cd "$(dirname "$0")" && pwd)
if [[ $go_version =~ ^1\.[0-9]+$ ]]; then
  releases="$(dirname "$here")/src/toolchain/go-releases.json"
  minor=$go_version
  go_version=$(node -e 'const r = require(process.argv[1])[process.argv[2]]; if (r) console.log(r.latest)' "$releases" "$minor")
  if [ -z "$go_version" ]; then
    echo "go-image: no last patch of Go $minor is listed in $releases; pass a full release like $minor.0" >&2
    exit 2
  fi
elif ! [[ $go_version =~ ^1\.[0-9]+(\.[0-9]+|(rc|beta)[0-9]+)$ ]]; then
  echo "go-image: '$go_version' is not a Go release like 1.23.5 (or a minor like 1.20)" >&2
  exit 2
fi
tag="d7y-build/golang:${go_version}-bookworm"
base="d7y-build/debian:bookworm"
say() { printf 'go-image: %s\n' "$*" >&2; }
if $check_only; then
  echo "$tag"
  exit 0
fi

if ! docker info >/dev/null 2>&1; then
  echo "go-image: no Docker engine answers; start one (scripts/engine.sh start) and run this again" >&2
  exit 1
fi
if docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag already exists"
  echo "$tag"
  exit 0
fi

# The machine's own Debian mirror: the only one this machine may reach.
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)}
mirror=${mirror:-http://deb.debian.org/debian}

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  rootfs=$(mktemp -d /tmp/d7y-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
  say "debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 20 "$rootfs.log" >&2
    exit 1
  }
  rm -f "$rootfs.log"
  say "importing $base"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
fi

say "building $tag"
context=$(mktemp -d /tmp/d7y-go-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "${D7Y_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" "$context/ca-certificates.crt"
docker build --force-rm -f "$here/go-image.Dockerfile" -t "$tag" --build-arg "MIRROR=$mirror" --build-arg "GO_VERSION=$go_version" "$context" >"$context/build.log" 2>&1 || {
  tail -n 30 "$context/build.log" >&2
  exit 1
}
say "built $tag"
echo "$tag"
