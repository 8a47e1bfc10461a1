#!/usr/bin/env bash
# Local infrastructure without Docker: Kafka 3.9 (KRaft) and Cassandra 5.0 from Maven Central, plus Redis.
#   scripts/infra.sh up | down | status | logs [kafka|cassandra|redis] | reset
#   scripts/infra.sh stop kafka|cassandra | start kafka|cassandra   (fault tests: one service at a time)
#   scripts/infra.sh nodetool ARGS...                               (Cassandra's admin tool, e.g. flush)
# Data and logs live under .infra/ (git-ignored). `down` stops only processes this script started, by
# the pids it recorded. A service that already answers on its port but was not started here is used as
# it is and never stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${INFRA_STATE_DIR:-$ROOT/.infra}"
KAFKA_PORT="${INFRA_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${INFRA_KAFKA_CONTROLLER_PORT:-9093}"
CASSANDRA_PORT="${INFRA_CASSANDRA_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${INFRA_CASSANDRA_STORAGE_PORT:-7000}"
CASSANDRA_JMX_PORT="${INFRA_CASSANDRA_JMX_PORT:-7199}"
REDIS_PORT="${INFRA_REDIS_PORT:-6379}"
KAFKA_WAIT_S="${INFRA_KAFKA_WAIT_S:-120}"
CASSANDRA_WAIT_S="${INFRA_CASSANDRA_WAIT_S:-240}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# A recorded pid counts as ours only while its command line still names what we launched,
# so a recycled pid is never signalled.
owned_pid() {
  local name="$1" marker="$2" f="$STATE/$1/pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$marker" || return 1
  echo "$pid"
}

render() { # template output key=value...
  local tpl="$1" out="$2"; shift 2
  local content; content="$(cat "$tpl")"
  for kv in "$@"; do content="${content//@${kv%%=*}@/${kv#*=}}"; done
  printf '%s\n' "$content" >"$out"
}

ensure_node_modules() {
  if [ ! -d "$ROOT/node_modules/kafkajs" ] || [ ! -d "$ROOT/node_modules/cassandra-driver" ]; then
    log "installing npm dependencies (needed for the readiness probes)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

# Fetch the official server jars with Maven; a second run only checks the local Maven cache.
fetch_jars() {
  local svc="$1" dir="$ROOT/infra/$1"
  if [ -f "$dir/lib/.complete" ] && [ "$dir/lib/.complete" -nt "$dir/pom.xml" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found: install Maven 3.8+ (apt-get install maven)"
  log "fetching $svc server jars from Maven Central"
  rm -rf "$dir/lib"
  (cd "$dir" && mvn -q -B package >"$STATE/$svc-maven.log" 2>&1) || {
    tail -n 40 "$STATE/$svc-maven.log" >&2; die "maven could not fetch $svc"; }
  touch "$dir/lib/.complete"
}

jar_version() { # lib-dir jar-prefix
  ls "$1" 2>/dev/null | sed -n "s/^$2-\([0-9][0-9.]*\)\.jar$/\1/p" | head -n1
}

probe() { node "$ROOT/scripts/infra-probe.js" "$@"; }

wait_until_ready() { # name seconds pid probe-args...
  local name="$1" secs="$2" pid="$3"; shift 3
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    if ! pid_alive "$pid"; then
      log "$name exited during start-up; last lines of its log:"
      tail -n 40 "$STATE/$name/logs/"*.log "$STATE/$name/stdout.log" 2>/dev/null >&2 || true
      die "$name did not start"
    fi
    if probe "$@" >/dev/null 2>&1; then log "$name ready (pid $pid)"; return 0; fi
    sleep 2
  done
  log "$name did not answer within ${secs}s; last lines of its log:"
  tail -n 40 "$STATE/$name/logs/"*.log "$STATE/$name/stdout.log" 2>/dev/null >&2 || true
  die "$name not ready"
}

launch() { # name marker command...   (detached, in its own session, pid recorded before exec)
  local name="$1"; shift; shift
  local dir="$STATE/$name"
  setsid bash -c 'echo $$ >"$0/pid"; exec "$@"' "$dir" "$@" >"$dir/stdout.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 50); do [ -s "$dir/pid" ] && break; sleep 0.1; done
  cat "$dir/pid"
}

kafka_up() {
  local dir="$STATE/kafka" pid
  if pid="$(owned_pid kafka kafka.Kafka)"; then
    wait_until_ready kafka "$KAFKA_WAIT_S" "$pid" kafka "127.0.0.1:$KAFKA_PORT"; return
  fi
  if port_open "$KAFKA_PORT"; then
    probe kafka "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 || die "port $KAFKA_PORT is taken by something that is not Kafka"
    log "kafka already answers on $KAFKA_PORT (not started here; left alone)"; return
  fi
  fetch_jars kafka
  mkdir -p "$dir/data" "$dir/logs"; rm -f "$dir/pid"
  render "$ROOT/infra/kafka/server.properties.template" "$dir/server.properties" \
    "DATA_DIR=$dir/data" "KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT"
  render "$ROOT/infra/kafka/log4j.properties.template" "$dir/log4j.properties" "LOG_DIR=$dir/logs"
  local cp="$ROOT/infra/kafka/lib/*"
  local jvm=(java -Xms512m -Xmx1g -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$dir/log4j.properties" "-Dkafka.logs.dir=$dir/logs" -cp "$cp")
  if [ ! -f "$dir/data/meta.properties" ]; then
    [ -f "$dir/cluster-id" ] || "${jvm[@]}" kafka.tools.StorageTool random-uuid >"$dir/cluster-id" 2>>"$dir/stdout.log"
    "${jvm[@]}" kafka.tools.StorageTool format -t "$(cat "$dir/cluster-id")" -c "$dir/server.properties" \
      --ignore-formatted >>"$dir/format.log" 2>&1 || { tail -n 20 "$dir/format.log" >&2; die "kafka storage format failed"; }
  fi
  log "starting kafka on 127.0.0.1:$KAFKA_PORT"
  pid="$(launch kafka kafka.Kafka "${jvm[@]}" kafka.Kafka "$dir/server.properties")"
  wait_until_ready kafka "$KAFKA_WAIT_S" "$pid" kafka "127.0.0.1:$KAFKA_PORT"
}

cassandra_up() {
  local dir="$STATE/cassandra" pid lib="$ROOT/infra/cassandra/lib"
  if pid="$(owned_pid cassandra CassandraDaemon)"; then
    wait_until_ready cassandra "$CASSANDRA_WAIT_S" "$pid" cassandra "127.0.0.1:$CASSANDRA_PORT"; return
  fi
  if port_open "$CASSANDRA_PORT"; then
    probe cassandra "127.0.0.1:$CASSANDRA_PORT" >/dev/null 2>&1 || die "port $CASSANDRA_PORT is taken by something that is not Cassandra"
    log "cassandra already answers on $CASSANDRA_PORT (not started here; left alone)"; return
  fi
  fetch_jars cassandra
  mkdir -p "$dir/data" "$dir/logs"; rm -f "$dir/pid"
  render "$ROOT/infra/cassandra/cassandra.yaml.template" "$dir/cassandra.yaml" \
    "DATA_DIR=$dir" "CASSANDRA_PORT=$CASSANDRA_PORT" "CASSANDRA_STORAGE_PORT=$CASSANDRA_STORAGE_PORT"
  render "$ROOT/infra/cassandra/logback.xml.template" "$dir/logback.xml" "LOG_DIR=$dir/logs"
  local jamm; jamm="$(ls "$lib"/jamm-*.jar | head -n1)"
  # Module flags from Cassandra's own conf/jvm17-server.options: without them the JVM dies at start.
  local java17=(-Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED)
  log "starting cassandra on 127.0.0.1:$CASSANDRA_PORT"
  pid="$(launch cassandra CassandraDaemon java -Xms1g -Xmx1g -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:+ParallelRefProcEnabled \
    "${java17[@]}" "-javaagent:$jamm" \
    "-Dcassandra.config=file://$dir/cassandra.yaml" -Dcassandra-foreground=yes \
    "-Dcassandra.storagedir=$dir/data" "-Dcassandra.logdir=$dir/logs" \
    "-Dlogback.configurationFile=file://$dir/logback.xml" -Djava.net.preferIPv4Stack=true \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 "-Dcassandra.jmx.local.port=$CASSANDRA_JMX_PORT" \
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11 \
    -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon)"
  wait_until_ready cassandra "$CASSANDRA_WAIT_S" "$pid" cassandra "127.0.0.1:$CASSANDRA_PORT"
}

redis_up() {
  local dir="$STATE/redis"
  mkdir -p "$dir"
  if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    if ! command -v redis-server >/dev/null; then
      log "installing Debian's redis-server"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools) >&2 \
        || die "could not install redis-server"
    fi
    log "starting redis on 127.0.0.1:$REDIS_PORT"
    rm -f "$dir/pid"
    launch redis redis-server redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir "$dir" --maxmemory-policy noeviction >/dev/null
    local i; for i in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.2; done
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || { tail -n 20 "$dir/stdout.log" >&2; die "redis did not start"; }
  fi
  # BullMQ loses jobs if Redis may evict keys.
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config set maxmemory-policy noeviction >/dev/null
  log "redis ready (maxmemory-policy $(redis-cli -p "$REDIS_PORT" config get maxmemory-policy | tail -n1))"
}

stop_owned() { # name marker
  local pid i
  if pid="$(owned_pid "$1" "$2")"; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do pid_alive "$pid" || break; sleep 0.5; done
    if pid_alive "$pid"; then log "$1 ignored SIGTERM; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$STATE/$1/pid"
}

status_line() { # name marker version port
  local pid state
  if pid="$(owned_pid "$1" "$2")"; then state="running (started here, pid $pid)"
  elif port_open "$4"; then state="answering on $4 (not started here)"; pid=""
  else state="stopped"; fi
  printf '%-10s %-10s 127.0.0.1:%-6s %s\n' "$1" "${3:-?}" "$4" "$state"
}

cmd="${1:-status}"
mkdir -p "$STATE/kafka" "$STATE/cassandra" "$STATE/redis"
case "$cmd" in
  up)
    ensure_node_modules
    redis_up
    # Cassandra is the slow one: start it first, then Kafka while it boots.
    cassandra_up &
    c=$!
    kafka_up
    wait "$c" || die "cassandra failed"
    ;;
  down)
    stop_owned kafka kafka.Kafka
    stop_owned cassandra CassandraDaemon
    stop_owned redis redis-server
    ;;
  status)
    status_line kafka kafka.Kafka "$(jar_version "$ROOT/infra/kafka/lib" kafka_2.13)" "$KAFKA_PORT"
    status_line cassandra CassandraDaemon "$(jar_version "$ROOT/infra/cassandra/lib" cassandra-all)" "$CASSANDRA_PORT"
    status_line redis redis-server "$(redis-cli -p "$REDIS_PORT" info server 2>/dev/null | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')" "$REDIS_PORT"
    ;;
  logs)
    case "${2:-all}" in
      kafka) tail -n "${3:-100}" "$STATE/kafka/logs/server.log" ;;
      cassandra) tail -n "${3:-100}" "$STATE/cassandra/logs/system.log" ;;
      redis) tail -n "${3:-100}" "$STATE/redis/stdout.log" 2>/dev/null || echo "(redis was not started here)" ;;
      *) for s in kafka/logs/server.log cassandra/logs/system.log; do echo "== $s"; tail -n 30 "$STATE/$s" 2>/dev/null || true; done ;;
    esac
    ;;
  stop)
    case "${2:-}" in
      kafka) stop_owned kafka kafka.Kafka ;;
      cassandra) stop_owned cassandra CassandraDaemon ;;
      *) die "stop takes kafka or cassandra" ;;
    esac
    ;;
  start)
    ensure_node_modules
    case "${2:-}" in
      kafka) kafka_up ;;
      cassandra) cassandra_up ;;
      *) die "start takes kafka or cassandra" ;;
    esac
    ;;
  nodetool)
    # Cassandra's own admin tool from the same jars (JMX on loopback), e.g. `nodetool flush KEYSPACE`.
    shift
    exec java --add-exports java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
      --add-exports java.base/jdk.internal.misc=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED \
      --add-opens java.base/jdk.internal.ref=ALL-UNNAMED -Dlogback.configurationFile=/dev/null \
      -cp "$ROOT/infra/cassandra/lib/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$CASSANDRA_JMX_PORT" "$@" 2> >(grep -v ' DEBUG ' >&2)
    ;;
  owns)
    # Exit 0 when this checkout started the service (so a test may stop and restart it).
    case "${2:-}" in
      kafka) owned_pid kafka kafka.Kafka >/dev/null ;;
      cassandra) owned_pid cassandra CassandraDaemon >/dev/null ;;
      *) exit 2 ;;
    esac
    ;;
  reset)
    "$0" down
    log "removing $STATE"
    rm -rf "$STATE"
    ;;
  *) echo "usage: $0 up|down|status|logs [kafka|cassandra|redis] [lines]|reset|stop SERVICE|start SERVICE" >&2; exit 2 ;;
esac
