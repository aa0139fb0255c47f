#!/usr/bin/env bash
# Local Apache Kafka 4.x on 127.0.0.1 in KRaft mode: one node by default, or a cluster.
#   deploy/kafka.sh start|stop|status|servers
# Jars come from Maven Central via mvn into $PANTAU_LOCAL_DIR/kafka/libs (cached);
# storage is formatted on first start. A broker that already answers on the port is reused.
#
# PANTAU_KAFKA_BROKERS=N (N > 1) runs N nodes instead, each a broker and a voter of one controller
# quorum, on ports PANTAU_KAFKA_PORT (19092) + 0..N-1 and controller ports
# PANTAU_KAFKA_CONTROLLER_PORT (19192) + 0..N-1, with their data under
# $PANTAU_LOCAL_DIR/kafka/cluster/node-<i>. `start` starts every node that is not running (so it
# also brings back a node that died), `stop` stops them all, `servers` prints the bootstrap list.
source "$(dirname "$0")/lib.sh"

KAFKA_BROKERS="$(cluster_size kafka PANTAU_KAFKA_BROKERS)"
if [ "$KAFKA_BROKERS" -gt 1 ]; then
  PANTAU_KAFKA_PORT="${PANTAU_KAFKA_PORT:-19092}"
  PANTAU_KAFKA_CONTROLLER_PORT="${PANTAU_KAFKA_CONTROLLER_PORT:-19192}"
  PANTAU_KAFKA_HEAP="${PANTAU_KAFKA_HEAP:--Xms128m -Xmx384m}"
fi

KAFKA_HOST="${PANTAU_KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${PANTAU_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${PANTAU_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${PANTAU_KAFKA_HEAP:--Xms256m -Xmx1g}"
KAFKA_DIR="$PANTAU_LOCAL_DIR/kafka"
LIBS="$KAFKA_DIR/libs"
DATA="$KAFKA_DIR/data"
KLOG_DIR="$LOG_DIR/kafka"
CONSOLE_LOG="$KLOG_DIR/console.log"
MARKER="pantau-kafka-broker"

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || fail "kafka: Java not found ($JAVA): install a JDK 17 (apt-get install -y openjdk-17-jre-headless)"
  local v
  v="$("$JAVA" -version 2>&1 | head -n1 | sed -E 's/.*version "([0-9]+).*/\1/')"
  [ "${v:-0}" -ge 17 ] 2>/dev/null || fail "kafka: Kafka 4 needs Java 17 or newer; '$JAVA -version' says: $("$JAVA" -version 2>&1 | head -n1)"
}

resolve_jars() {
  maven_jars kafka "$DEPLOY_DIR/kafka/pom.xml" "$LIBS" "$KLOG_DIR" "broker jars"
}

render_config() {
  mkdir -p "$DATA" "$KLOG_DIR"
  sed -e "s|@HOST@|$KAFKA_HOST|g" -e "s|@PORT@|$KAFKA_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$DATA|g" \
      "$DEPLOY_DIR/kafka/server.properties.in" > "$KAFKA_DIR/server.properties"
}

java_args() {
  # shellcheck disable=SC2086
  JAVA_ARGS=("$JAVA" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    -Dpantau.role="$MARKER" -Dkafka.logs.dir="$KLOG_DIR"
    -Dlog4j2.configurationFile="$DEPLOY_DIR/kafka/log4j2.xml"
    -cp "$LIBS/*")
}

java_cmd() { java_args; "${JAVA_ARGS[@]}" "$@"; }

format_storage() {
  [ -f "$DATA/meta.properties" ] && return 0
  local cluster_id
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$CONSOLE_LOG" | tail -n1)"
  say "kafka: formatting storage in $DATA (cluster $cluster_id)"
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
    >>"$CONSOLE_LOG" 2>&1 || fail "kafka: formatting storage failed; see $CONSOLE_LOG"
}

start() {
  claim_start kafka "$MARKER" "$KAFKA_HOST:$KAFKA_PORT" "a broker" \
    kafka "$KAFKA_HOST" "$KAFKA_PORT" || return 0
  ports_free kafka "$KAFKA_HOST" "free it or set PANTAU_KAFKA_PORT / PANTAU_KAFKA_CONTROLLER_PORT" \
    "$KAFKA_PORT" "$CONTROLLER_PORT"
  need_java
  resolve_jars
  render_config
  format_storage
  say "kafka: starting on $KAFKA_HOST:$KAFKA_PORT (logs in $KLOG_DIR)"
  java_args
  nohup "${JAVA_ARGS[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" </dev/null >>"$CONSOLE_LOG" 2>&1 9>&- &
  echo $! > "$RUN_DIR/kafka.pid"
  wait_until 90 "$KLOG_DIR/server.log" "$(cat "$RUN_DIR/kafka.pid")" probe kafka "$KAFKA_HOST" "$KAFKA_PORT" \
    || fail "kafka: did not start; logs: $KLOG_DIR/server.log and $CONSOLE_LOG"
  say "kafka: ready on $KAFKA_HOST:$KAFKA_PORT"
}

status() {
  server_status kafka "$MARKER" "$KAFKA_HOST:$KAFKA_PORT" "a broker" kafka "$KAFKA_HOST" "$KAFKA_PORT"
}

# ---- a cluster of PANTAU_KAFKA_BROKERS nodes ----------------------------------------------------
CLUSTER_DIR="$KAFKA_DIR/cluster"

node_port() { echo $((KAFKA_PORT + $1 - 1)); }
node_controller_port() { echo $((CONTROLLER_PORT + $1 - 1)); }
node_marker() { echo "pantau-kafka-node-$1@$KAFKA_HOST:$(node_port "$1")"; }
node_name() { echo "kafka-node-$1"; }

cluster_servers() {
  local i out=""
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do out+="${out:+,}$KAFKA_HOST:$(node_port "$i")"; done
  echo "$out"
}

cluster_voters() {
  local i out=""
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    out+="${out:+,}$i@$KAFKA_HOST:$(node_controller_port "$i")"
  done
  echo "$out"
}

render_node_config() {
  local i="$1" dir="$CLUSTER_DIR/node-$1" replication min_isr
  replication=$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))
  min_isr=$((replication >= 3 ? 2 : 1))
  mkdir -p "$dir/data" "$LOG_DIR/kafka-cluster/node-$i"
  sed -e "s|@HOST@|$KAFKA_HOST|g" -e "s|@PORT@|$(node_port "$i")|g" \
      -e "s|@CONTROLLER_PORT@|$(node_controller_port "$i")|g" -e "s|@DATA_DIR@|$dir/data|g" \
      -e "s|@NODE_ID@|$i|g" -e "s|@VOTERS@|$(cluster_voters)|g" \
      -e "s|@REPLICATION@|$replication|g" -e "s|@MIN_ISR@|$min_isr|g" \
      "$DEPLOY_DIR/kafka/cluster.properties.in" > "$dir/server.properties"
}

node_java_args() {
  # shellcheck disable=SC2086
  JAVA_ARGS=("$JAVA" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1
    -XX:CICompilerCount=2 -Djava.awt.headless=true
    -Dpantau.role="$(node_marker "$1")" -Dkafka.logs.dir="$LOG_DIR/kafka-cluster/node-$1"
    -Dlog4j2.configurationFile="$DEPLOY_DIR/kafka/log4j2.xml"
    -cp "$LIBS/*")
}

# The nodes' storage is formatted once, with one cluster id, for one layout of voters; a folder
# formatted for another layout is refused rather than joined to the wrong quorum.
format_cluster() {
  local i layout cluster_id
  layout="$KAFKA_BROKERS $(cluster_voters)"
  mkdir -p "$CLUSTER_DIR"
  if [ -f "$CLUSTER_DIR/layout" ] && [ "$(cat "$CLUSTER_DIR/layout")" != "$layout" ]; then
    fail "kafka: $CLUSTER_DIR holds a cluster of another layout ($(cat "$CLUSTER_DIR/layout")); stop it and remove the folder to start '$layout'"
  fi
  if [ ! -f "$CLUSTER_DIR/cluster.id" ]; then
    java_cmd kafka.tools.StorageTool random-uuid 2>>"$CLUSTER_DIR/format.log" | tail -n1 > "$CLUSTER_DIR/cluster.id"
  fi
  cluster_id="$(cat "$CLUSTER_DIR/cluster.id")"
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    render_node_config "$i"
    [ -f "$CLUSTER_DIR/node-$i/data/meta.properties" ] && continue
    say "kafka: formatting node $i in $CLUSTER_DIR/node-$i (cluster $cluster_id)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CLUSTER_DIR/node-$i/server.properties" \
      >>"$CLUSTER_DIR/format.log" 2>&1 || fail "kafka: formatting node $i failed; see $CLUSTER_DIR/format.log"
  done
  echo "$layout" > "$CLUSTER_DIR/layout"
}

cluster_start() {
  take_lock kafka-cluster
  local i started=()
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    pid_alive "kafka-node-$i" "$(node_marker "$i")" && continue
    ports_free "kafka node $i" "$KAFKA_HOST" \
      "free it or set PANTAU_KAFKA_PORT / PANTAU_KAFKA_CONTROLLER_PORT" \
      "$(node_port "$i")" "$(node_controller_port "$i")"
  done
  need_java
  resolve_jars
  format_cluster
  # Every missing node at once: a node is ready only when a majority of the quorum is up.
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    member_running kafka "node $i" "kafka-node-$i" "$(node_marker "$i")" \
      "$KAFKA_HOST:$(node_port "$i")" && continue
    say "kafka: starting node $i on $KAFKA_HOST:$(node_port "$i") (logs in $LOG_DIR/kafka-cluster/node-$i)"
    node_java_args "$i"
    launch "kafka-node-$i" "$LOG_DIR/kafka-cluster/node-$i/console.log" \
      "${JAVA_ARGS[@]}" kafka.Kafka "$CLUSTER_DIR/node-$i/server.properties"
    started+=("$i")
  done
  for i in "${started[@]}"; do
    member_ready kafka "node $i" "kafka-node-$i" 120 "$LOG_DIR/kafka-cluster/node-$i/server.log" \
      "$LOG_DIR/kafka-cluster/node-$i/" "$KAFKA_HOST:$(node_port "$i")" \
      kafka "$KAFKA_HOST" "$(node_port "$i")"
  done
  say "kafka: cluster of $KAFKA_BROKERS brokers: $(cluster_servers)"
}

cluster_stop() {
  # All at once: a node stopped after the others lost the quorum it needs for a clean shutdown.
  stop_members "$KAFKA_BROKERS" 60 node_name node_marker "$KAFKA_HOST" node_port
}

cluster_status() {
  members_status kafka node "$KAFKA_BROKERS" node_name node_marker "$KAFKA_HOST" node_port
}

if [ "$KAFKA_BROKERS" -gt 1 ]; then
  case "${1:-}" in
    start) cluster_start ;;
    stop) cluster_stop ;;
    status) cluster_status ;;
    servers) cluster_servers ;;
    *) fail "usage: deploy/kafka.sh start|stop|status|servers" ;;
  esac
  exit 0
fi

case "${1:-}" in
  start) start ;;
  stop) stop_pid kafka "$MARKER" 60 "$KAFKA_HOST" "$KAFKA_PORT" ;;
  status) status ;;
  servers) echo "$KAFKA_HOST:$KAFKA_PORT" ;;
  *) fail "usage: deploy/kafka.sh start|stop|status|servers" ;;
esac
