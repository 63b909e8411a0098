#!/usr/bin/env bash
# The programs the e2e tests drive besides the engine, installed from Debian's archive when missing:
#   tmux                    tty.test.ts reads the live progress off a real pseudo-terminal
#   jq                      provenance.test.ts checks the provenance as the README does
#   docker-registry         image.test.ts pushes the runtime image to a real registry on loopback
#   htpasswd                registry-auth.test.ts gives that registry bcrypt (htpasswd -B) users
# Usage: test/env/tools.sh
set -euo pipefail

# command → Debian package
declare -A wanted=(
  [tmux]=tmux
  [jq]=jq
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
)

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
printf 'tools: installing %s from Debian\n' "${missing[*]}" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
