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

JAVA="${PANTAU_JAVA:-java}"
MVN="${PANTAU_MVN:-mvn}"

# maven_jars WHO POM LIBS LOG_DIR WHAT: copy POM's runtime jars from Maven Central into LIBS, once
# per version of POM. Bounded: an unreachable registry ends with a message instead of a hang.
maven_jars() {
  local who="$1" pom="$2" libs="$3" log_dir="$4" what="$5" stamp want
  stamp="$libs/.resolved"
  want="$(sha256sum "$pom" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  command -v "$MVN" >/dev/null 2>&1 || fail "$who: Maven not found ($MVN): install it (apt-get install -y maven) so the $what can be resolved"
  say "$who: resolving $what from Maven Central (first run only)..."
  rm -rf "$libs" && mkdir -p "$libs" "$log_dir"
  if ! timeout "${PANTAU_MVN_TIMEOUT:-900}" "$MVN" -B -q -f "$pom" \
        -Daether.connector.connectTimeout=20000 -Daether.connector.requestTimeout=120000 \
        dependency:copy-dependencies \
        -DoutputDirectory="$libs" -DincludeScope=runtime >"$log_dir/mvn.log" 2>&1; then
    tail -n 20 "$log_dir/mvn.log" >&2
    fail "$who: could not resolve the $what (is Maven Central reachable?); full log: $log_dir/mvn.log"
  fi
  echo "$want" > "$stamp"
}

# cluster_size WHO VARIABLE: the number of servers VARIABLE asks for (1 when unset); fails
# unless it is 1 to 9.
cluster_size() {
  local n="${!2:-1}"
  [[ "$n" =~ ^[1-9]$ ]] || fail "$1: $2 must be 1 to 9, got '$n'"
  echo "$n"
}

# take_lock NAME: two starts at once (parallel test runs) must not both launch a server: they
# take turns on run/NAME.lock (held on descriptor 9 until the script ends).
take_lock() {
  exec 9>"$RUN_DIR/$1.lock"
  flock 9
}

# claim_start NAME MARKER WHERE WHAT PROBE_ARGS...: take NAME's start lock, then return 1 when
# our server already runs (on WHERE) or WHAT not of ours answers the probe (it is reused).
claim_start() {
  local name="$1" marker="$2" where="$3" what="$4"
  shift 4
  take_lock "$name"
  if pid_alive "$name" "$marker"; then
    say "$name: already running (pid $(cat "$RUN_DIR/$name.pid")) on $where"
    return 1
  fi
  if probe "$@"; then
    say "$name: $what already answers on $2:$3; reusing it"
    return 1
  fi
}

# server_status NAME MARKER WHERE WHAT PROBE_ARGS...: whether our server runs (on WHERE), or
# WHAT not of ours answers the probe; returns 1 when neither.
server_status() {
  local name="$1" marker="$2" where="$3" what="$4"
  shift 4
  if pid_alive "$name" "$marker"; then
    say "$name: running (pid $(cat "$RUN_DIR/$name.pid")) on $where"
  elif probe "$@"; then
    say "$name: $what not started by these scripts answers on $2:$3"
  else
    say "$name: not running"
    return 1
  fi
}

# ports_free WHO HOST HINT PORT...: fail, saying how to choose others (HINT), when a PORT on HOST
# is taken.
ports_free() {
  local who="$1" host="$2" hint="$3" port
  shift 3
  for port in "$@"; do
    port_taken "$host" "$port" && fail "$who: port $host:$port is taken by another program; $hint"
  done
  return 0
}

# The members of a cluster: for member I, NAME_FN I names its pid file, MARKER_FN I gives its
# marker and PORT_FN I its port on HOST.

# stop_members COUNT GRACE NAME_FN MARKER_FN HOST PORT_FN: stop every member at once.
stop_members() {
  local count="$1" grace="$2" name_fn="$3" marker_fn="$4" host="$5" port_fn="$6" i
  for ((i = 1; i <= count; i++)); do
    stop_pid "$("$name_fn" "$i")" "$("$marker_fn" "$i")" "$grace" "$host" "$("$port_fn" "$i")" &
  done
  wait
}

# members_status WHO KIND COUNT NAME_FN MARKER_FN HOST PORT_FN: each member (`node 2`), running or
# not; returns 1 when one is not.
members_status() {
  local who="$1" kind="$2" count="$3" name_fn="$4" marker_fn="$5" host="$6" port_fn="$7"
  local i name rc=0
  for ((i = 1; i <= count; i++)); do
    name="$("$name_fn" "$i")"
    if pid_alive "$name" "$("$marker_fn" "$i")"; then
      say "$who: $kind $i running (pid $(cat "$RUN_DIR/$name.pid")) on $host:$("$port_fn" "$i")"
    else
      say "$who: $kind $i not running"
      rc=1
    fi
  done
  return $rc
}

# member_running WHO MEMBER PIDNAME MARKER WHERE: whether that member of a cluster already runs
# (and says so).
member_running() {
  pid_alive "$3" "$4" || return 1
  say "$1: $2 already running (pid $(cat "$RUN_DIR/$3.pid")) on $5"
}

# launch PIDNAME LOGFILE CMD...: run CMD in the background, detached from the start lock, its
# output appended to LOGFILE and its pid in run/PIDNAME.pid.
launch() {
  local name="$1" logfile="$2"
  shift 2
  nohup "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  echo $! > "$RUN_DIR/$name.pid"
}

# member_ready WHO MEMBER PIDNAME SECONDS LOGFILE LOGS WHERE PROBE_ARGS...: wait until the member
# just launched answers the probe; fail, pointing at LOGS, when it does not.
member_ready() {
  local who="$1" member="$2" name="$3" seconds="$4" logfile="$5" logs="$6" where="$7"
  shift 7
  wait_until "$seconds" "$logfile" "$(cat "$RUN_DIR/$name.pid")" probe "$@" \
    || fail "$who: $member did not start; logs in $logs"
  say "$who: $member ready on $where"
}
