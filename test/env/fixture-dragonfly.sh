#!/usr/bin/env bash
# Generate the fixture Dragonfly repository that the tests and the demo build against.
#
#   test/env/fixture-dragonfly.sh <dest>
#
# <dest> becomes a git repository on branch main with three tagged commits, made from
# test/fixtures/dragonfly and the patches beside it:
#   v2.1.0  the tree as it is
#   v2.1.1  pkg/source and scheduler/resource/standard change: plugins built against v2.1.0 no
#           longer load into v2.1.1 hosts, and the other way round
#   v2.4.0  cmd/dfget removed, as upstream from v2.4.0: only scheduler and manager plugins remain
# and, on branch release-2.0 from v2.1.0:
#   v2.0.9  the Go 1.20 line (go.mod `go 1.20`, no toolchain line) with the older evaluator
#           interface (Evaluate(parent, child, taskPieceCount) float64 + IsBadNode), as upstream
# and, on branch release-2.5 from v2.4.0:
#   v2.5.0  the Go 1.25 line (go.mod `go 1.25.5`), no dfget, and upstream's later evaluator interface
#           (EvaluateParents(parents, child) without the piece count, IsBadParent)
# Author, committer and dates are fixed, so every machine gets the same commit SHAs.
set -euo pipefail

dest=${1:?usage: $0 <dest>}
fixtures=$(cd "$(dirname "$0")/../fixtures" && pwd)

if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  echo "fixture-dragonfly: $dest exists and is not empty" >&2
  exit 2
fi
mkdir -p "$dest"
cp -R "$fixtures/dragonfly/." "$dest/"
cd "$dest"

export GIT_AUTHOR_NAME="Fixture" GIT_AUTHOR_EMAIL="fixture@d7y.invalid"
export GIT_COMMITTER_NAME="Fixture" GIT_COMMITTER_EMAIL="fixture@d7y.invalid"
git init -q -b main .
git config commit.gpgsign false
git config tag.gpgsign false

release() {
  local tag=$1 date=$2
  export GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date"
  git add -A
  git commit -q -m "release $tag"
  git tag -a "$tag" -m "$tag"
}

release v2.1.0 "2024-01-02T03:04:05Z"
git apply "$fixtures/dragonfly-v2.1.1.patch"
release v2.1.1 "2024-02-03T04:05:06Z"
git apply "$fixtures/dragonfly-v2.4.0.patch"
release v2.4.0 "2025-12-01T00:00:00Z"

git checkout -q -b release-2.0 v2.1.0
git apply "$fixtures/dragonfly-v2.0.9.patch"
release v2.0.9 "2023-12-01T00:00:00Z"
git checkout -q -b release-2.5 v2.4.0
git apply "$fixtures/dragonfly-v2.5.0.patch"
release v2.5.0 "2026-06-01T00:00:00Z"
git checkout -q main

git log --all --format='%H %d' >&2
