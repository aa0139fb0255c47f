#!/usr/bin/env bash
# Local ClickHouse server (Debian's clickhouse-server) with the project's own config, data and logs.
#   deploy/clickhouse.sh start|stop|status
# Installs the Debian package when the server binary is missing. A ClickHouse that already answers
# on the HTTP port is reused.
source "$(dirname "$0")/lib.sh"

CH_HOST="${PANTAU_CLICKHOUSE_HOST:-127.0.0.1}"
CH_TCP_PORT="${PANTAU_CLICKHOUSE_TCP_PORT:-9000}"
CH_HTTP_PORT="${PANTAU_CLICKHOUSE_HTTP_PORT:-8123}"
CH_DIR="$PANTAU_LOCAL_DIR/clickhouse"
CH_LOG_DIR="$LOG_DIR/clickhouse"
CONSOLE_LOG="$CH_LOG_DIR/console.log"
MARKER="$CH_DIR/config.xml"

server_binary() {
  local b
  for b in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
  done
  return 1
}

ensure_installed() {
  server_binary >/dev/null && command -v clickhouse-client >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || fail "clickhouse-server is not installed and installing it needs root: sudo apt-get install -y clickhouse-server clickhouse-client"
  command -v apt-get >/dev/null 2>&1 || fail "clickhouse-server is not installed and this is not a Debian system; install ClickHouse and put clickhouse-server on PATH"
  say "clickhouse: installing the Debian packages clickhouse-server and clickhouse-client..."
  mkdir -p "$CH_LOG_DIR"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q clickhouse-server clickhouse-client >"$CH_LOG_DIR/apt.log" 2>&1; then
    apt-get update -q >>"$CH_LOG_DIR/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q clickhouse-server clickhouse-client >>"$CH_LOG_DIR/apt.log" 2>&1 \
      || fail "clickhouse: apt-get install failed; see $CH_LOG_DIR/apt.log"
  fi
  server_binary >/dev/null || fail "clickhouse: installed, but no clickhouse-server binary found; see $CH_LOG_DIR/apt.log"
}

render_config() {
  mkdir -p "$CH_DIR/data/tmp" "$CH_DIR/data/user_files" "$CH_DIR/data/format_schemas" "$CH_LOG_DIR"
  cp "$DEPLOY_DIR/clickhouse/users.xml" "$CH_DIR/users.xml"
  sed -e "s|@HOST@|$CH_HOST|g" -e "s|@HTTP_PORT@|$CH_HTTP_PORT|g" -e "s|@TCP_PORT@|$CH_TCP_PORT|g" \
      -e "s|@DATA_DIR@|$CH_DIR/data|g" -e "s|@LOG_DIR@|$CH_LOG_DIR|g" -e "s|@CONF_DIR@|$CH_DIR|g" \
      "$DEPLOY_DIR/clickhouse/config.xml.in" > "$CH_DIR/config.xml"
}

start() {
  # Two starts at once (parallel test runs) must not both launch a server: take turns.
  exec 9>"$RUN_DIR/clickhouse.lock"
  flock 9
  if pid_alive clickhouse "$MARKER"; then
    say "clickhouse: already running (pid $(cat "$RUN_DIR/clickhouse.pid")) on $CH_HOST:$CH_TCP_PORT"
    return 0
  fi
  if probe clickhouse "$CH_HOST" "$CH_HTTP_PORT"; then
    say "clickhouse: a server already answers on $CH_HOST:$CH_HTTP_PORT; reusing it"
    return 0
  fi
  for port in "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
    port_taken "$CH_HOST" "$port" && fail "clickhouse: port $CH_HOST:$port is taken by another program; free it or set PANTAU_CLICKHOUSE_TCP_PORT / PANTAU_CLICKHOUSE_HTTP_PORT"
  done
  ensure_installed
  render_config
  say "clickhouse: starting on $CH_HOST:$CH_TCP_PORT (native) and :$CH_HTTP_PORT (HTTP); logs in $CH_LOG_DIR"
  nohup "$(server_binary)" --config-file="$CH_DIR/config.xml" </dev/null >>"$CONSOLE_LOG" 2>&1 9>&- &
  echo $! > "$RUN_DIR/clickhouse.pid"
  wait_until 60 "$CH_LOG_DIR/clickhouse-server.err.log" "$(cat "$RUN_DIR/clickhouse.pid")" \
    probe clickhouse "$CH_HOST" "$CH_HTTP_PORT" \
    || fail "clickhouse: did not start; logs: $CH_LOG_DIR/clickhouse-server.err.log and $CONSOLE_LOG"
  say "clickhouse: ready on $CH_HOST:$CH_TCP_PORT"
}

status() {
  if pid_alive clickhouse "$MARKER"; then
    say "clickhouse: running (pid $(cat "$RUN_DIR/clickhouse.pid")) on $CH_HOST:$CH_TCP_PORT"
  elif probe clickhouse "$CH_HOST" "$CH_HTTP_PORT"; then
    say "clickhouse: a server not started by these scripts answers on $CH_HOST:$CH_HTTP_PORT"
  else
    say "clickhouse: not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid clickhouse "$MARKER" 30 "$CH_HOST" "$CH_TCP_PORT" ;;
  status) status ;;
  *) fail "usage: deploy/clickhouse.sh start|stop|status" ;;
esac
