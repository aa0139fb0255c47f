#!/usr/bin/env bash
# The whole stack on this machine: Kafka, ClickHouse, the topics and schema, then every
# long-running Pantau process of this build (`pantau processes`), each with a pid file and a log.
#   deploy/stack.sh up|down|status
# PANTAU_KAFKA_BROKERS=3 runs it on a local three-broker Kafka cluster (deploy/kafka.sh) instead of
# the single broker; PANTAU_KAFKA then defaults to that cluster's brokers. Likewise
# PANTAU_CLICKHOUSE_REPLICAS=2 runs it on two ClickHouse replicas (deploy/clickhouse.sh).
source "$(dirname "$0")/lib.sh"

PANTAU="$REPO_DIR/.venv/bin/pantau"
[ -x "$PANTAU" ] || fail "no .venv yet: run 'make install' first"
# A local stack signs operators in with the documented dev tokens unless told otherwise.
export PANTAU_OPERATORS="${PANTAU_OPERATORS:-$REPO_DIR/deploy/dev-operators.yaml}"
# The intake's documented dev API keys and a dev pseudonym secret: for a local stack only.
export PANTAU_API_KEYS="${PANTAU_API_KEYS:-$REPO_DIR/deploy/dev-api-keys.yaml}"
export PANTAU_PSEUDONYM_KEY="${PANTAU_PSEUDONYM_KEY:-local-dev-only-pseudonym-key}"
# Local runs only: signs the sink's chain checkpoints so `pantau verify` also catches a deleted
# last event. Production sets its own secret.
export PANTAU_CHECKPOINT_KEY="${PANTAU_CHECKPOINT_KEY:-local-dev-only-checkpoint-key}"
# Local runs only: the secret the receipts' check codes derive from (status page).
export PANTAU_STATUS_KEY="${PANTAU_STATUS_KEY:-local-dev-only-status-key}"

health_url() {
  case "$1" in
    intake) echo "http://127.0.0.1:${PANTAU_INTAKE_PORT:-8000}/healthz" ;;
    alerts) echo "http://127.0.0.1:${PANTAU_ALERTS_PORT:-8001}/healthz" ;;
    status) echo "http://127.0.0.1:${PANTAU_STATUS_PORT:-8002}/healthz" ;;
    tracker) echo "http://127.0.0.1:${PANTAU_TRACKER_PORT:-6066}/healthz" ;;
    sink) echo "http://127.0.0.1:${PANTAU_SINK_METRICS_PORT:-8003}/healthz" ;;
    *) echo "" ;;
  esac
}

http_ok() { "$PROBE_PY" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1"; }

start_process() {
  local name="$1" marker="bin/pantau $1" log="$LOG_DIR/$1.log" url pid
  if pid_alive "$name" "$marker"; then
    say "$name: already running (pid $(cat "$RUN_DIR/$name.pid"))"
    return 0
  fi
  say "$name: starting (log $log)"
  nohup "$PANTAU" "$name" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" > "$RUN_DIR/$name.pid"
  url="$(health_url "$name")"
  if [ -n "$url" ]; then
    wait_until 60 "$log" "$pid" http_ok "$url" || fail "$name did not become healthy; see $log"
  else
    sleep 3
    kill -0 "$pid" 2>/dev/null || { tail -n 25 "$log" >&2; fail "$name exited at start; see $log"; }
  fi
}

up() {
  "$DEPLOY_DIR/kafka.sh" start
  if [ "${PANTAU_KAFKA_BROKERS:-1}" -gt 1 ]; then
    PANTAU_KAFKA="${PANTAU_KAFKA:-$("$DEPLOY_DIR/kafka.sh" servers)}"
    export PANTAU_KAFKA
  fi
  "$DEPLOY_DIR/clickhouse.sh" start
  if [ "${PANTAU_CLICKHOUSE_REPLICAS:-1}" -gt 1 ]; then
    PANTAU_CLICKHOUSE="${PANTAU_CLICKHOUSE:-$("$DEPLOY_DIR/clickhouse.sh" url)}"
    export PANTAU_CLICKHOUSE
  fi
  "$PANTAU" bootstrap
  local processes
  processes="$("$PANTAU" processes)"
  for p in $processes; do start_process "$p"; done
  say ""
  say "Pantau is up:"
  if [ "${PANTAU_KAFKA_BROKERS:-1}" -gt 1 ]; then
    say "  Kafka        cluster of ${PANTAU_KAFKA_BROKERS} brokers $PANTAU_KAFKA (topic prefix ${PANTAU_TOPIC_PREFIX:-pantau.})"
    "$PANTAU" kafka | sed 's/^/               /'
  else
    say "  Kafka        ${PANTAU_KAFKA:-127.0.0.1:9092} (topic prefix ${PANTAU_TOPIC_PREFIX:-pantau.})"
  fi
  if [ "${PANTAU_CLICKHOUSE_REPLICAS:-1}" -gt 1 ]; then
    say "  ClickHouse   ${PANTAU_CLICKHOUSE_REPLICAS} replicas $PANTAU_CLICKHOUSE (ZooKeeper 127.0.0.1:${PANTAU_ZOOKEEPER_PORT:-12181})"
  else
    say "  ClickHouse   clickhouse-client --host 127.0.0.1 --port ${PANTAU_CLICKHOUSE_TCP_PORT:-9000} --database pantau   (HTTP :${PANTAU_CLICKHOUSE_HTTP_PORT:-8123})"
  fi
  for p in $processes; do
    case "$p" in
      intake) say "  Intake       http://127.0.0.1:${PANTAU_INTAKE_PORT:-8000}/docs" ;;
      alerts) say "  Dashboard    http://127.0.0.1:${PANTAU_ALERTS_PORT:-8001}/   (dev token: dev-inspectorate-token)" ;;
      sink) say "  Sink         metrics http://127.0.0.1:${PANTAU_SINK_METRICS_PORT:-8003}/metrics, log $LOG_DIR/sink.log" ;;
      status) say "  Status page  http://127.0.0.1:${PANTAU_STATUS_PORT:-8002}/   (applicants: receipt number and check code)" ;;
      *) say "  $(printf '%-12s' "${p^}") running, log $LOG_DIR/$p.log" ;;
    esac
  done
  say "  Logs         $LOG_DIR"
  say "Stop it all with: make down"
}

down() {
  local f name
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || continue
    name="$(basename "$f" .pid)"
    case "$name" in kafka | kafka-node-* | clickhouse* | zookeeper) continue ;; esac
    stop_pid "$name" "bin/pantau $name" 20
  done
  # The nodes of a cluster `PANTAU_KAFKA_BROKERS=N make up` started, whatever N is now.
  # All at once: a node stopped after the others lost the quorum it needs for a clean shutdown.
  for f in "$RUN_DIR"/kafka-node-*.pid; do
    [ -e "$f" ] || continue
    stop_pid "$(basename "$f" .pid)" "pantau-kafka-node-" 60 &
  done
  wait
  "$DEPLOY_DIR/kafka.sh" stop
  # The replicas and ZooKeeper of `PANTAU_CLICKHOUSE_REPLICAS=N make up`, whatever N is now.
  for f in "$RUN_DIR"/clickhouse-replica-*.pid; do
    [ -e "$f" ] || continue
    stop_pid "$(basename "$f" .pid)" "/clickhouse/replica-" 30 &
  done
  wait
  [ -e "$RUN_DIR/zookeeper.pid" ] && stop_pid zookeeper "pantau-zookeeper@" 30
  "$DEPLOY_DIR/clickhouse.sh" stop
}

status() {
  local rc=0 f name
  "$DEPLOY_DIR/kafka.sh" status || rc=1
  "$DEPLOY_DIR/clickhouse.sh" status || rc=1
  for f in "$RUN_DIR"/*.pid; do
    [ -e "$f" ] || continue
    name="$(basename "$f" .pid)"
    case "$name" in kafka | kafka-node-* | clickhouse* | zookeeper) continue ;; esac
    if pid_alive "$name" "bin/pantau $name"; then say "$name: running (pid $(cat "$f"))"; else say "$name: not running"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) fail "usage: deploy/stack.sh up|down|status" ;;
esac
