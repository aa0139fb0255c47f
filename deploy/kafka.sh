#!/usr/bin/env bash
# Local Apache Kafka 4.x broker (KRaft, single node) on 127.0.0.1.
#   deploy/kafka.sh start|stop|status
# Jars come from Maven Central via mvn into $PANTAU_LOCAL_DIR/kafka/libs (cached);
# storage is formatted on first start. A broker that already answers on the port is reused.
source "$(dirname "$0")/lib.sh"

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
JAVA="${PANTAU_JAVA:-java}"
MVN="${PANTAU_MVN:-mvn}"

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || fail "kafka: Java not found ($JAVA): install a JDK 17 (apt-get install -y openjdk-17-jre-headless)"
  local v
  v="$("$JAVA" -version 2>&1 | head -n1 | sed -E 's/.*version "([0-9]+).*/\1/')"
  [ "${v:-0}" -ge 17 ] 2>/dev/null || fail "kafka: Kafka 4 needs Java 17 or newer; '$JAVA -version' says: $("$JAVA" -version 2>&1 | head -n1)"
}

resolve_jars() {
  local stamp="$LIBS/.resolved" want
  want="$(sha256sum "$DEPLOY_DIR/kafka/pom.xml" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  command -v "$MVN" >/dev/null 2>&1 || fail "kafka: Maven not found ($MVN): install it (apt-get install -y maven) so the Kafka jars can be resolved"
  say "kafka: resolving broker jars from Maven Central (first run only)..."
  rm -rf "$LIBS" && mkdir -p "$LIBS" "$KLOG_DIR"
  # Bounded: an unreachable registry ends with a message instead of a hang.
  if ! timeout "${PANTAU_MVN_TIMEOUT:-900}" "$MVN" -B -q -f "$DEPLOY_DIR/kafka/pom.xml" \
        -Daether.connector.connectTimeout=20000 -Daether.connector.requestTimeout=120000 \
        dependency:copy-dependencies \
        -DoutputDirectory="$LIBS" -DincludeScope=runtime >"$KLOG_DIR/mvn.log" 2>&1; then
    tail -n 20 "$KLOG_DIR/mvn.log" >&2
    fail "kafka: could not resolve the broker jars (is Maven Central reachable?); full log: $KLOG_DIR/mvn.log"
  fi
  echo "$want" > "$stamp"
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
  # Two starts at once (parallel test runs) must not both launch a server: take turns.
  exec 9>"$RUN_DIR/kafka.lock"
  flock 9
  if pid_alive kafka "$MARKER"; then
    say "kafka: already running (pid $(cat "$RUN_DIR/kafka.pid")) on $KAFKA_HOST:$KAFKA_PORT"
    return 0
  fi
  if probe kafka "$KAFKA_HOST" "$KAFKA_PORT"; then
    say "kafka: a broker already answers on $KAFKA_HOST:$KAFKA_PORT; reusing it"
    return 0
  fi
  for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
    port_taken "$KAFKA_HOST" "$port" && fail "kafka: port $KAFKA_HOST:$port is taken by another program that is not a Kafka broker; free it or set PANTAU_KAFKA_PORT / PANTAU_KAFKA_CONTROLLER_PORT"
  done
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
  if pid_alive kafka "$MARKER"; then
    say "kafka: running (pid $(cat "$RUN_DIR/kafka.pid")) on $KAFKA_HOST:$KAFKA_PORT"
  elif probe kafka "$KAFKA_HOST" "$KAFKA_PORT"; then
    say "kafka: a broker not started by these scripts answers on $KAFKA_HOST:$KAFKA_PORT"
  else
    say "kafka: not running"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid kafka "$MARKER" 60 "$KAFKA_HOST" "$KAFKA_PORT" ;;
  status) status ;;
  *) fail "usage: deploy/kafka.sh start|stop|status" ;;
esac
