#!/usr/bin/env bash
# Make sure a Docker engine answers, installing and starting Debian's docker.io when none does.
#
#   scripts/engine.sh start   start dockerd unless an engine already answers
#   scripts/engine.sh stop    stop dockerd, but only if `start` started it
#   scripts/engine.sh status  say whether an engine answers and who owns it
#
# d7y-build itself never installs or starts anything; this script is for the tests, the demo and CI
# on a machine with no engine. It stops only what it started: the pid it recorded.
set -euo pipefail

state_dir=${D7Y_ENGINE_STATE:-/tmp/d7y-build-engine}
pid_file="$state_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"

say() { printf 'engine: %s\n' "$*" >&2; }

answers() { docker info >/dev/null 2>&1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_engine() {
  say "no dockerd on this machine: installing Debian's docker.io"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

start() {
  if answers; then
    say "an engine already answers; leaving it alone"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || install_engine
  mkdir -p "$state_dir"
  rm -f "$pid_file"
  say "starting dockerd (log: $log_file)"
  # setsid: dockerd must outlive the shell that started it (npm, vitest, CI step). dockerd writes
  # its own pid to $pid_file: that file is what marks the engine as ours.
  # Descriptors beyond stdio close first: a lock the caller holds (flock) or a pipe it reads to the
  # end must not live on in dockerd, or the caller's lock is never released and its reader never ends.
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-"
    done 2>/dev/null
    exec "${sudo[@]}" setsid dockerd --pidfile "$pid_file" >"$log_file" 2>&1 </dev/null
  ) &
  local launcher=$!
  for _ in $(seq 1 60); do
    if answers && [ -s "$pid_file" ]; then
      say "dockerd answers (pid $(cat "$pid_file"))"
      return 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null && ! answers; then
      rm -f "$pid_file"
      say "dockerd exited at start; last lines of $log_file:"
      tail -n 20 "$log_file" >&2
      return 1
    fi
    sleep 1
  done
  say "dockerd did not answer within 60 s; see $log_file"
  return 1
}

stop() {
  if [ ! -f "$pid_file" ]; then
    say "this script did not start the running engine (if any); leaving it alone"
    return 0
  fi
  local pid
  pid=$(cat "$pid_file")
  say "stopping dockerd (pid $pid)"
  as_root kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "dockerd did not stop within 30 s; killing it"
    as_root kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

status() {
  if answers; then
    if [ -f "$pid_file" ]; then echo "running (started by scripts/engine.sh, pid $(cat "$pid_file"))"; else echo "running (not ours)"; fi
  else
    echo "not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
