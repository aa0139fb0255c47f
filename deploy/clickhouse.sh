#!/usr/bin/env bash
# Local ClickHouse server (Debian's clickhouse-server) with the project's own config, data and logs.
#   deploy/clickhouse.sh start|stop|status|url   (and `jars`: resolve ZooKeeper's jars only)
# Installs the Debian package when the server binary is missing. A ClickHouse that already answers
# on the HTTP port is reused.
#
# PANTAU_CLICKHOUSE_REPLICAS=N (N > 1) runs N servers instead, the replicas of one shard of the
# `pantau` cluster, with a standalone ZooKeeper (jars from Maven Central via mvn, cached in
# $PANTAU_LOCAL_DIR/zookeeper/libs) on PANTAU_ZOOKEEPER_PORT (12181). Replica i listens on native
# PANTAU_CLICKHOUSE_TCP_PORT (19000) + i-1, HTTP PANTAU_CLICKHOUSE_HTTP_PORT (18123) + i-1 and
# interserver PANTAU_CLICKHOUSE_INTERSERVER_PORT (19109) + i-1, with its data under
# $PANTAU_LOCAL_DIR/clickhouse/replica-<i>. `start` starts whatever is not running (so it also
# brings back a replica that died), `stop` stops them all, `url` prints the PANTAU_CLICKHOUSE URL.
source "$(dirname "$0")/lib.sh"

CH_REPLICAS="$(cluster_size clickhouse PANTAU_CLICKHOUSE_REPLICAS)"
if [ "$CH_REPLICAS" -gt 1 ]; then
  PANTAU_CLICKHOUSE_TCP_PORT="${PANTAU_CLICKHOUSE_TCP_PORT:-19000}"
  PANTAU_CLICKHOUSE_HTTP_PORT="${PANTAU_CLICKHOUSE_HTTP_PORT:-18123}"
fi

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
  claim_start clickhouse "$MARKER" "$CH_HOST:$CH_TCP_PORT" "a server" \
    clickhouse "$CH_HOST" "$CH_HTTP_PORT" || return 0
  ports_free clickhouse "$CH_HOST" \
    "free it or set PANTAU_CLICKHOUSE_TCP_PORT / PANTAU_CLICKHOUSE_HTTP_PORT" \
    "$CH_TCP_PORT" "$CH_HTTP_PORT"
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
  server_status clickhouse "$MARKER" "$CH_HOST:$CH_TCP_PORT" "a server" \
    clickhouse "$CH_HOST" "$CH_HTTP_PORT"
}

# ---- replicas of one shard, with ZooKeeper -------------------------------------------------------
ZK_PORT="${PANTAU_ZOOKEEPER_PORT:-12181}"
ZK_HEAP="${PANTAU_ZOOKEEPER_HEAP:--Xms64m -Xmx192m}"
ZK_DIR="$PANTAU_LOCAL_DIR/zookeeper"
ZK_LOG_DIR="$LOG_DIR/zookeeper"
ZK_MARKER="pantau-zookeeper@$CH_HOST:$ZK_PORT"
INTERSERVER_PORT="${PANTAU_CLICKHOUSE_INTERSERVER_PORT:-19109}"

replica_tcp() { echo $((CH_TCP_PORT + $1 - 1)); }
replica_http() { echo $((CH_HTTP_PORT + $1 - 1)); }
replica_dir() { echo "$CH_DIR/replica-$1"; }
replica_name() { echo "clickhouse-replica-$1"; }
replica_marker() { echo "$(replica_dir "$1")/config.xml"; }

cluster_url() {
  local i hosts=""
  for ((i = 1; i <= CH_REPLICAS; i++)); do hosts+="${hosts:+,}$CH_HOST:$(replica_tcp "$i")"; done
  echo "clickhouse://default@$hosts/${PANTAU_CLICKHOUSE_DATABASE:-pantau}"
}

zookeeper_jars() {
  maven_jars clickhouse "$DEPLOY_DIR/clickhouse/zookeeper-pom.xml" "$ZK_DIR/libs" "$ZK_LOG_DIR" \
    "ZooKeeper jars"
}

# Serving, not only up: `srvr` names the server's mode once it has loaded its data.
zookeeper_ok() { printf 'srvr' | timeout 3 "$PROBE_PY" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())' "$CH_HOST" "$ZK_PORT" 2>/dev/null | grep -q "^Mode: standalone"; }

zookeeper_start() {
  if pid_alive zookeeper "$ZK_MARKER"; then return 0; fi
  port_taken "$CH_HOST" "$ZK_PORT" && fail "clickhouse: ZooKeeper port $CH_HOST:$ZK_PORT is taken by another program; free it or set PANTAU_ZOOKEEPER_PORT"
  command -v "$JAVA" >/dev/null 2>&1 || fail "clickhouse: Java not found ($JAVA): ZooKeeper needs a JDK 17 (apt-get install -y openjdk-17-jre-headless)"
  zookeeper_jars
  mkdir -p "$ZK_DIR/data" "$ZK_LOG_DIR"
  sed -e "s|@HOST@|$CH_HOST|g" -e "s|@PORT@|$ZK_PORT|g" -e "s|@DATA_DIR@|$ZK_DIR/data|g" \
      "$DEPLOY_DIR/clickhouse/zoo.cfg.in" > "$ZK_DIR/zoo.cfg"
  say "clickhouse: starting ZooKeeper on $CH_HOST:$ZK_PORT (logs in $ZK_LOG_DIR)"
  # shellcheck disable=SC2086
  nohup "$JAVA" $ZK_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dpantau.role="$ZK_MARKER" \
    -Dzookeeper.admin.enableServer=false -cp "$ZK_DIR/libs/*" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_DIR/zoo.cfg" \
    </dev/null >>"$ZK_LOG_DIR/console.log" 2>&1 9>&- &
  echo $! > "$RUN_DIR/zookeeper.pid"
  wait_until 60 "$ZK_LOG_DIR/console.log" "$(cat "$RUN_DIR/zookeeper.pid")" zookeeper_ok \
    || fail "clickhouse: ZooKeeper did not start; see $ZK_LOG_DIR/console.log"
}

render_replica() {
  local i="$1" dir replicas="" j
  dir="$(replica_dir "$i")"
  mkdir -p "$dir/data/tmp" "$dir/data/user_files" "$dir/data/format_schemas" "$dir/config.d" \
    "$LOG_DIR/clickhouse-replica-$i"
  cp "$DEPLOY_DIR/clickhouse/users.xml" "$dir/users.xml"
  sed -e "s|@HOST@|$CH_HOST|g" -e "s|@HTTP_PORT@|$(replica_http "$i")|g" \
      -e "s|@TCP_PORT@|$(replica_tcp "$i")|g" -e "s|@DATA_DIR@|$dir/data|g" \
      -e "s|@LOG_DIR@|$LOG_DIR/clickhouse-replica-$i|g" -e "s|@CONF_DIR@|$dir|g" \
      "$DEPLOY_DIR/clickhouse/config.xml.in" > "$dir/config.xml"
  for ((j = 1; j <= CH_REPLICAS; j++)); do
    replicas+="                <replica><host>$CH_HOST</host><port>$(replica_tcp "$j")</port></replica>\n"
  done
  sed -e "s|@HOST@|$CH_HOST|g" -e "s|@INTERSERVER_PORT@|$((INTERSERVER_PORT + i - 1))|g" \
      -e "s|@ZOOKEEPER_PORT@|$ZK_PORT|g" -e "s|@INDEX@|$i|g" -e "s|@REPLICAS@|$replicas|g" \
      "$DEPLOY_DIR/clickhouse/replica.xml.in" > "$dir/config.d/replica.xml"
}

replicas_start() {
  take_lock clickhouse-replicas
  local i started=()
  for ((i = 1; i <= CH_REPLICAS; i++)); do
    pid_alive "clickhouse-replica-$i" "$(replica_dir "$i")/config.xml" && continue
    ports_free "clickhouse replica $i" "$CH_HOST" \
      "free it or set PANTAU_CLICKHOUSE_TCP_PORT / _HTTP_PORT / _INTERSERVER_PORT" \
      "$(replica_tcp "$i")" "$(replica_http "$i")" "$((INTERSERVER_PORT + i - 1))"
  done
  ensure_installed
  zookeeper_start
  for ((i = 1; i <= CH_REPLICAS; i++)); do
    member_running clickhouse "replica $i" "clickhouse-replica-$i" "$(replica_dir "$i")/config.xml" \
      "$CH_HOST:$(replica_tcp "$i")" && continue
    render_replica "$i"
    say "clickhouse: starting replica $i on $CH_HOST:$(replica_tcp "$i") (native) and :$(replica_http "$i") (HTTP)"
    launch "clickhouse-replica-$i" "$LOG_DIR/clickhouse-replica-$i/console.log" \
      "$(server_binary)" --config-file="$(replica_dir "$i")/config.xml"
    started+=("$i")
  done
  for i in "${started[@]}"; do
    member_ready clickhouse "replica $i" "clickhouse-replica-$i" 60 \
      "$LOG_DIR/clickhouse-replica-$i/clickhouse-server.err.log" "$LOG_DIR/clickhouse-replica-$i" \
      "$CH_HOST:$(replica_tcp "$i")" clickhouse "$CH_HOST" "$(replica_http "$i")"
  done
  say "clickhouse: $CH_REPLICAS replicas of cluster 'pantau': $(cluster_url)"
}

replicas_stop() {
  stop_members "$CH_REPLICAS" 30 replica_name replica_marker "$CH_HOST" replica_tcp
  stop_pid zookeeper "$ZK_MARKER" 30 "$CH_HOST" "$ZK_PORT"
}

replicas_status() {
  local rc=0
  if pid_alive zookeeper "$ZK_MARKER"; then say "zookeeper: running (pid $(cat "$RUN_DIR/zookeeper.pid")) on $CH_HOST:$ZK_PORT"; else say "zookeeper: not running"; rc=1; fi
  members_status clickhouse replica "$CH_REPLICAS" replica_name replica_marker "$CH_HOST" \
    replica_tcp || rc=1
  return $rc
}

if [ "$CH_REPLICAS" -gt 1 ]; then
  case "${1:-}" in
    start) replicas_start ;;
    stop) replicas_stop ;;
    status) replicas_status ;;
    url) cluster_url ;;
    jars) zookeeper_jars ;;
    *) fail "usage: deploy/clickhouse.sh start|stop|status|url|jars" ;;
  esac
  exit 0
fi

case "${1:-}" in
  start) start ;;
  stop) stop_pid clickhouse "$MARKER" 30 "$CH_HOST" "$CH_TCP_PORT" ;;
  status) status ;;
  url) echo "clickhouse://default@$CH_HOST:$CH_TCP_PORT/${PANTAU_CLICKHOUSE_DATABASE:-pantau}" ;;
  *) fail "usage: deploy/clickhouse.sh start|stop|status|url" ;;
esac
