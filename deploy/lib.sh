# Shared helpers for the local-server scripts (sourced, not run).
# Every server we start gets a pid file under $PANTAU_LOCAL_DIR/run; we only ever stop a process
# whose pid file we wrote and whose command line still carries our marker.

set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$DEPLOY_DIR")"
PANTAU_LOCAL_DIR="${PANTAU_LOCAL_DIR:-$REPO_DIR/.local}"
RUN_DIR="$PANTAU_LOCAL_DIR/run"
LOG_DIR="$PANTAU_LOCAL_DIR/logs"
mkdir -p "$RUN_DIR" "$LOG_DIR"

say() { printf '%s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# python3 for the small stdlib-only probes (deploy/probe.py); any CPython 3 will do.
PROBE_PY="${PANTAU_PYTHON:-$(command -v python3 || true)}"
probe() { "$PROBE_PY" "$DEPLOY_DIR/probe.py" "$@"; }

# pid_alive NAME MARKER: the pid in run/NAME.pid is alive and its command line contains MARKER.
pid_alive() {
  local pidfile="$RUN_DIR/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$2"
}

# port_taken HOST PORT: something accepts TCP connections there.
port_taken() { probe tcp "$1" "$2" >/dev/null 2>&1; }

# stop_pid NAME MARKER [SECONDS [HOST PORT]]: TERM our own process, then KILL after the grace
# period; with HOST and PORT, also wait until the port is released.
stop_pid() {
  local name="$1" marker="$2" grace="${3:-30}" host="${4:-}" port="${5:-}" pid i
  if ! pid_alive "$name" "$marker"; then
    rm -f "$RUN_DIR/$name.pid"
    say "$name: not running (nothing of ours to stop)"
    return 0
  fi
  pid="$(cat "$RUN_DIR/$name.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    pid_alive "$name" "$marker" || break
    sleep 0.1
  done
  if pid_alive "$name" "$marker"; then
    say "$name: still up after ${grace}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$RUN_DIR/$name.pid"
  if [ -n "$port" ]; then wait_port_free "$host" "$port" 30; fi
  say "$name: stopped"
}

# wait_port_free HOST PORT SECONDS: after a stop, wait until nothing listens there any more, so a
# start right afterwards does not mistake a server that is still shutting down for a live one.
wait_port_free() {
  local i
  for ((i = 0; i < $3 * 4; i++)); do
    port_taken "$1" "$2" || return 0
    sleep 0.25
  done
  say "warning: something still listens on $1:$2 after ${3}s"
}

# wait_until SECONDS LOGFILE PID CMD...: poll CMD until it succeeds; fail early if PID dies.
wait_until() {
  local seconds="$1" logfile="$2" pid="$3" i
  shift 3
  for ((i = 0; i < seconds * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      printf 'error: the process exited during start-up; last lines of %s:\n' "$logfile" >&2
      tail -n 25 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  printf 'error: not ready after %ss; see %s\n' "$seconds" "$logfile" >&2
  tail -n 25 "$logfile" >&2 || true
  return 1
}
