#!/usr/bin/env bash
# Local infrastructure without Docker: Kafka 3.9 (KRaft) and Cassandra 5.0 from Maven Central, plus Redis.
#   scripts/infra.sh up | down | status | logs [kafka|cassandra|redis] | reset
#   scripts/infra.sh up --regions 2    (two regions on loopback: region B has its own Kafka cluster and a
#                                       second Cassandra node, 127.0.0.2, in a second datacenter)
#   scripts/infra.sh stop kafka|cassandra | start kafka|cassandra   (fault tests: one service at a time)
#   scripts/infra.sh nodetool ARGS...                               (Cassandra's admin tool, e.g. flush)
#   INFRA_CASSANDRA_COMMITLOG_SYNC=group|periodic (default group): the commit log sync of a node this script
#     starts. group (2 ms window) acknowledges a write only once it is fsynced (invariant 2: a kill -9 of the
#     single node loses nothing); periodic (10 s) is for measuring what that costs (bench step commitlog) on
#     a private node, never for the shared one: it lost 180 acknowledged events to a kill -9 (issue 11 §1).
# Data and logs live under .infra/ (git-ignored). `down` stops only processes this script started, by
# the pids it recorded. A service that already answers on its port but was not started here is used as
# it is and never stopped.
set -euo pipefail

# `--regions N` may come anywhere among the arguments; INFRA_REGIONS does the same.
REGIONS="${INFRA_REGIONS:-}"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --regions) REGIONS="${2:-}"; shift 2 || { echo "--regions needs a number" >&2; exit 2; } ;;
    --regions=*) REGIONS="${1#--regions=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
case "$REGIONS" in ''|1|2) ;; *) echo "--regions takes 1 or 2" >&2; exit 2 ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${INFRA_STATE_DIR:-$ROOT/.infra}"
KAFKA_PORT="${INFRA_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${INFRA_KAFKA_CONTROLLER_PORT:-9093}"
CASSANDRA_PORT="${INFRA_CASSANDRA_PORT:-9042}"
CASSANDRA_STORAGE_PORT="${INFRA_CASSANDRA_STORAGE_PORT:-7000}"
CASSANDRA_JMX_PORT="${INFRA_CASSANDRA_JMX_PORT:-7199}"
REDIS_PORT="${INFRA_REDIS_PORT:-6379}"
CASSANDRA_CLUSTER="${INFRA_CASSANDRA_CLUSTER:-viewing-history-local}"
# Checked only by the commands that render a Cassandra node (up, start), so `down` and `status` work whatever
# it holds. Cassandra 5.0 refuses a period with group sync and a window with periodic: each gets its own option.
# periodic never for the shared node (default state directory or port 9042): a kill -9 loses acknowledged writes.
commitlog_sync_settings() {
  case "${INFRA_CASSANDRA_COMMITLOG_SYNC:-group}" in
    group) COMMITLOG_SYNC=group COMMITLOG_SYNC_OPTION="commitlog_sync_group_window: 2ms" ;;
    periodic)
      if [ "$STATE" = "$ROOT/.infra" ] || [ "$CASSANDRA_PORT" = 9042 ]; then
        echo "INFRA_CASSANDRA_COMMITLOG_SYNC=periodic is only for a private node (its own INFRA_STATE_DIR and INFRA_CASSANDRA_PORT), never the shared one (invariant 2)" >&2
        exit 2
      fi
      COMMITLOG_SYNC=periodic COMMITLOG_SYNC_OPTION="commitlog_sync_period: 10000ms" ;;
    *) echo "INFRA_CASSANDRA_COMMITLOG_SYNC takes group or periodic" >&2; exit 2 ;;
  esac
}
# Region B: its own Kafka cluster (ports +100 by default) and a second Cassandra node on 127.0.0.2 with the
# same native and storage ports (another address), in datacenter dc2; region A's node is then in dc1.
KAFKA_B_PORT="${INFRA_KAFKA_B_PORT:-$((KAFKA_PORT + 100))}"
KAFKA_B_CONTROLLER_PORT="${INFRA_KAFKA_B_CONTROLLER_PORT:-$((KAFKA_CONTROLLER_PORT + 100))}"
CASSANDRA_B_ADDRESS="${INFRA_CASSANDRA_B_ADDRESS:-127.0.0.2}"
# JMX listens on 127.0.0.1 whatever the node's address: region B's needs a port of its own.
CASSANDRA_B_JMX_PORT="${INFRA_CASSANDRA_B_JMX_PORT:-$((CASSANDRA_JMX_PORT + 100))}"
CASSANDRA_DC_A="${INFRA_CASSANDRA_DC_A:-dc1}"
# Where the nodes reach each other (their broadcast addresses; region A's is the seed): their own addresses,
# or a relay's that a test cuts to partition the regions (test/support/cassandra-link.ts).
CASSANDRA_A_BROADCAST="${INFRA_CASSANDRA_A_BROADCAST:-127.0.0.1}"
CASSANDRA_B_BROADCAST="${INFRA_CASSANDRA_B_BROADCAST:-$CASSANDRA_B_ADDRESS}"
CASSANDRA_DC_B="${INFRA_CASSANDRA_DC_B:-dc2}"

# A state directory keeps the number of regions it was made with: a node's datacenter may not change
# (Cassandra refuses to start), and `start cassandra` must render the same snitch as `up` did.
RECORDED_REGIONS="$(cat "$STATE/regions" 2>/dev/null || true)"
if [ -n "$REGIONS" ] && [ -n "$RECORDED_REGIONS" ] && [ "$REGIONS" != "$RECORDED_REGIONS" ] \
  && [ -d "$STATE/cassandra/data" ]; then
  echo "[infra] ERROR: $STATE holds a $RECORDED_REGIONS-region setup; use another INFRA_STATE_DIR or reset it" >&2
  exit 1
fi
REGIONS="${REGIONS:-${RECORDED_REGIONS:-1}}"
[ "$REGIONS" = 2 ] && mkdir -p "$STATE" && echo 2 >"$STATE/regions"

# Two regions run four JVMs on a small machine: smaller heaps (enough for the tests' volumes).
if [ "$REGIONS" = 2 ]; then
  CASSANDRA_HEAP="${INFRA_CASSANDRA_HEAP:-768m}" KAFKA_HEAP="${INFRA_KAFKA_HEAP:-512m}" KAFKA_HEAP_MIN=256m
else
  CASSANDRA_HEAP="${INFRA_CASSANDRA_HEAP:-1g}" KAFKA_HEAP="${INFRA_KAFKA_HEAP:-1g}" KAFKA_HEAP_MIN=512m
fi
KAFKA_WAIT_S="${INFRA_KAFKA_WAIT_S:-120}"
CASSANDRA_WAIT_S="${INFRA_CASSANDRA_WAIT_S:-240}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

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
    # A linked node_modules is another checkout's: `npm ci` here would empty it under everyone using it.
    [ -L "$ROOT/node_modules" ] && die "node_modules links to $(readlink "$ROOT/node_modules"), which lacks kafkajs: install there"
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
      tail -n 40 "$STATE/$name/logs/"*.log "$STATE/$name/stdout.log" >&2 2>/dev/null || true
      die "$name did not start"
    fi
    if probe "$@" >/dev/null 2>&1; then log "$name ready (pid $pid)"; return 0; fi
    sleep 2
  done
  log "$name did not answer within ${secs}s; last lines of its log:"
  tail -n 40 "$STATE/$name/logs/"*.log "$STATE/$name/stdout.log" >&2 2>/dev/null || true
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

kafka_up() { # [name port controller-port]: region A's broker by default, kafka-b for region B
  local name="${1:-kafka}" port="${2:-$KAFKA_PORT}" controller="${3:-$KAFKA_CONTROLLER_PORT}"
  local dir="$STATE/$name" pid
  mkdir -p "$dir"
  if pid="$(owned_pid "$name" kafka.Kafka)"; then
    wait_until_ready "$name" "$KAFKA_WAIT_S" "$pid" kafka "127.0.0.1:$port"; return
  fi
  if port_open "$port"; then
    probe kafka "127.0.0.1:$port" >/dev/null 2>&1 || die "port $port is taken by something that is not Kafka"
    log "$name already answers on $port (not started here; left alone)"; return
  fi
  fetch_jars kafka
  mkdir -p "$dir/data" "$dir/logs"; rm -f "$dir/pid"
  render "$ROOT/infra/kafka/server.properties.template" "$dir/server.properties" \
    "DATA_DIR=$dir/data" "KAFKA_PORT=$port" "KAFKA_CONTROLLER_PORT=$controller"
  render "$ROOT/infra/kafka/log4j.properties.template" "$dir/log4j.properties" "LOG_DIR=$dir/logs"
  local cp="$ROOT/infra/kafka/lib/*"
  local jvm=(java "-Xms$KAFKA_HEAP_MIN" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$dir/log4j.properties" "-Dkafka.logs.dir=$dir/logs" -cp "$cp")
  if [ ! -f "$dir/data/meta.properties" ]; then
    [ -f "$dir/cluster-id" ] || "${jvm[@]}" kafka.tools.StorageTool random-uuid >"$dir/cluster-id" 2>>"$dir/stdout.log"
    "${jvm[@]}" kafka.tools.StorageTool format -t "$(cat "$dir/cluster-id")" -c "$dir/server.properties" \
      --ignore-formatted >>"$dir/format.log" 2>&1 || { tail -n 20 "$dir/format.log" >&2; die "$name storage format failed"; }
  fi
  log "starting $name on 127.0.0.1:$port"
  pid="$(launch "$name" kafka.Kafka "${jvm[@]}" kafka.Kafka "$dir/server.properties")"
  wait_until_ready "$name" "$KAFKA_WAIT_S" "$pid" kafka "127.0.0.1:$port"
}

cassandra_up() { # [name address jmx-port peers broadcast]: region A's node by default, cassandra-b for region B
  # peers: how many other nodes it must see up before it counts as ready.
  local name="${1:-cassandra}" address="${2:-127.0.0.1}" jmx="${3:-$CASSANDRA_JMX_PORT}" peers="${4:-0}"
  local broadcast="${5:-$address}"
  # Region A's node is the seed of two regions; a single node seeds from itself (whatever A's broadcast says).
  local seed="$CASSANDRA_A_BROADCAST"
  [ "$REGIONS" = 2 ] || seed="$broadcast"
  local dir="$STATE/$name" pid lib="$ROOT/infra/cassandra/lib" dc snitch=SimpleSnitch
  dc="$(cassandra_dc "$name")"
  [ "$REGIONS" = 2 ] && snitch=GossipingPropertyFileSnitch
  mkdir -p "$dir"
  if pid="$(owned_pid "$name" CassandraDaemon)"; then
    wait_until_ready "$name" "$CASSANDRA_WAIT_S" "$pid" cassandra "$address:$CASSANDRA_PORT" "$dc" "$peers"; return
  fi
  if port_open "$CASSANDRA_PORT" "$address"; then
    probe cassandra "$address:$CASSANDRA_PORT" "$dc" >/dev/null 2>&1 || die "port $address:$CASSANDRA_PORT is taken by something that is not Cassandra of $dc"
    log "$name already answers on $address:$CASSANDRA_PORT (not started here; left alone)"; return
  fi
  fetch_jars cassandra
  mkdir -p "$dir/data" "$dir/logs"; rm -f "$dir/pid"
  render "$ROOT/infra/cassandra/cassandra.yaml.template" "$dir/cassandra.yaml" \
    "DATA_DIR=$dir" "CASSANDRA_PORT=$CASSANDRA_PORT" "CASSANDRA_STORAGE_PORT=$CASSANDRA_STORAGE_PORT" \
    "CLUSTER_NAME=$CASSANDRA_CLUSTER" "SNITCH=$snitch" "ADDRESS=$address" "BROADCAST_ADDRESS=$broadcast" \
    "SEED_ADDRESS=$seed" \
    "COMMITLOG_SYNC=$COMMITLOG_SYNC" "COMMITLOG_SYNC_OPTION=$COMMITLOG_SYNC_OPTION"
  printf 'dc=%s\nrack=rack1\n' "$dc" >"$dir/cassandra-rackdc.properties"
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
  log "starting $name ($dc) on $address:$CASSANDRA_PORT"
  pid="$(launch "$name" CassandraDaemon java "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" -Xss256k -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:+ParallelRefProcEnabled \
    "${java17[@]}" "-javaagent:$jamm" \
    "-Dcassandra.config=file://$dir/cassandra.yaml" -Dcassandra-foreground=yes \
    "-Dcassandra.storagedir=$dir/data" "-Dcassandra.logdir=$dir/logs" \
    "-Dlogback.configurationFile=file://$dir/logback.xml" -Djava.net.preferIPv4Stack=true \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 "-Dcassandra.jmx.local.port=$jmx" \
    "-Dcassandra-rackdc.properties=file://$dir/cassandra-rackdc.properties" \
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11 \
    -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon)"
  wait_until_ready "$name" "$CASSANDRA_WAIT_S" "$pid" cassandra "$address:$CASSANDRA_PORT" "$dc" "$peers"
}

cassandra_dc() { # node name -> its datacenter
  if [ "$REGIONS" = 1 ]; then echo datacenter1
  elif [ "$1" = cassandra-b ]; then echo "$CASSANDRA_DC_B"
  else echo "$CASSANDRA_DC_A"; fi
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

status_line() { # name marker version port [address]
  local pid state address="${5:-127.0.0.1}"
  if pid="$(owned_pid "$1" "$2")"; then state="running (started here, pid $pid)"
  elif port_open "$4" "$address"; then state="answering on $4 (not started here)"; pid=""
  else state="stopped"; fi
  printf '%-11s %-10s %15s:%-6s %s\n' "$1" "${3:-?}" "$address" "$4" "$state"
}

# Region B's services; each of the two regions' services by its name.
kafka_b_up() { kafka_up kafka-b "$KAFKA_B_PORT" "$KAFKA_B_CONTROLLER_PORT"; }
cassandra_a_up() { cassandra_up cassandra 127.0.0.1 "$CASSANDRA_JMX_PORT" 0 "$CASSANDRA_A_BROADCAST"; }
cassandra_b_up() { cassandra_up cassandra-b "$CASSANDRA_B_ADDRESS" "$CASSANDRA_B_JMX_PORT" 1 "$CASSANDRA_B_BROADCAST"; }
# Both regions' nodes at once (half the time of one after the other on two cores). Region B's may give up
# before region A's gossips (it needs its seed): then it is started again once A answers.
cassandra_ab_up() {
  cassandra_a_up &
  local a=$!
  if (cassandra_b_up); then wait "$a"; return; fi
  wait "$a" || return 1
  log "cassandra-b could not join before region A's node answered; starting it again"
  cassandra_b_up
}
kafka_ab_up() { kafka_up & local a=$!; kafka_b_up; wait "$a"; }
region_b_only() { [ "$REGIONS" = 2 ] || die "$1 exists only with --regions 2"; }

cmd="${1:-status}"
mkdir -p "$STATE/kafka" "$STATE/cassandra" "$STATE/redis"
case "$cmd" in
  up)
    commitlog_sync_settings
    ensure_node_modules
    redis_up
    if [ "$REGIONS" = 2 ]; then
      started=$SECONDS
      cassandra_ab_up &
      c=$!
      kafka_ab_up
      wait "$c" || die "cassandra failed"
      log "two regions up in $((SECONDS - started))s: A = kafka 127.0.0.1:$KAFKA_PORT, cassandra 127.0.0.1:$CASSANDRA_PORT ($CASSANDRA_DC_A); B = kafka 127.0.0.1:$KAFKA_B_PORT, cassandra $CASSANDRA_B_ADDRESS:$CASSANDRA_PORT ($CASSANDRA_DC_B)"
    else
      # Cassandra is the slow one: start it first, then Kafka while it boots.
      cassandra_up &
      c=$!
      kafka_up
      wait "$c" || die "cassandra failed"
    fi
    ;;
  down)
    stop_owned kafka-b kafka.Kafka
    stop_owned cassandra-b CassandraDaemon
    stop_owned kafka kafka.Kafka
    stop_owned cassandra CassandraDaemon
    stop_owned redis redis-server
    ;;
  status)
    status_line kafka kafka.Kafka "$(jar_version "$ROOT/infra/kafka/lib" kafka_2.13)" "$KAFKA_PORT"
    status_line cassandra CassandraDaemon "$(jar_version "$ROOT/infra/cassandra/lib" cassandra-all)" "$CASSANDRA_PORT"
    if [ "$REGIONS" = 2 ]; then
      status_line kafka-b kafka.Kafka "$(jar_version "$ROOT/infra/kafka/lib" kafka_2.13)" "$KAFKA_B_PORT"
      status_line cassandra-b CassandraDaemon "$(jar_version "$ROOT/infra/cassandra/lib" cassandra-all)" "$CASSANDRA_PORT" "$CASSANDRA_B_ADDRESS"
    fi
    status_line redis redis-server "$(redis-cli -p "$REDIS_PORT" info server 2>/dev/null | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')" "$REDIS_PORT"
    ;;
  logs)
    case "${2:-all}" in
      kafka|kafka-b) tail -n "${3:-100}" "$STATE/$2/logs/server.log" ;;
      cassandra|cassandra-b) tail -n "${3:-100}" "$STATE/$2/logs/system.log" ;;
      redis) tail -n "${3:-100}" "$STATE/redis/stdout.log" 2>/dev/null || echo "(redis was not started here)" ;;
      *) for s in kafka/logs/server.log cassandra/logs/system.log; do echo "== $s"; tail -n 30 "$STATE/$s" 2>/dev/null || true; done ;;
    esac
    ;;
  stop)
    case "${2:-}" in
      kafka|kafka-b) stop_owned "$2" kafka.Kafka ;;
      cassandra|cassandra-b) stop_owned "$2" CassandraDaemon ;;
      *) die "stop takes kafka, cassandra, kafka-b or cassandra-b" ;;
    esac
    ;;
  start)
    case "${2:-}" in cassandra*) commitlog_sync_settings ;; esac
    ensure_node_modules
    case "${2:-}" in
      kafka) kafka_up ;;
      cassandra) if [ "$REGIONS" = 2 ]; then cassandra_a_up; else cassandra_up; fi ;;
      kafka-b) region_b_only "$2"; kafka_b_up ;;
      cassandra-b) region_b_only "$2"; cassandra_b_up ;;
      kafka-ab) region_b_only "$2"; kafka_ab_up ;;
      cassandra-ab) region_b_only "$2"; cassandra_ab_up ;;
      *) die "start takes kafka, cassandra, kafka-b, cassandra-b, or kafka-ab, cassandra-ab (both regions')" ;;
    esac
    ;;
  nodetool|nodetool-b)
    # Cassandra's own admin tool from the same jars (JMX on loopback), e.g. `nodetool flush KEYSPACE`;
    # nodetool-b asks region B's node.
    [ "$cmd" = nodetool-b ] && CASSANDRA_JMX_PORT="$CASSANDRA_B_JMX_PORT"
    shift
    exec java --add-exports java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
      --add-exports java.base/jdk.internal.misc=ALL-UNNAMED --add-opens java.base/java.nio=ALL-UNNAMED \
      --add-opens java.base/jdk.internal.ref=ALL-UNNAMED -Dlogback.configurationFile=/dev/null \
      -cp "$ROOT/infra/cassandra/lib/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$CASSANDRA_JMX_PORT" "$@" 2> >(grep -v ' DEBUG ' >&2)
    ;;
  owns)
    # Exit 0 when this checkout started the service (so a test may stop and restart it).
    case "${2:-}" in
      kafka|kafka-b) owned_pid "$2" kafka.Kafka >/dev/null ;;
      cassandra|cassandra-b) owned_pid "$2" CassandraDaemon >/dev/null ;;
      *) exit 2 ;;
    esac
    ;;
  reset)
    "$0" down
    log "removing $STATE"
    rm -rf "$STATE"
    ;;
  *) echo "usage: $0 up|down|status|logs [SERVICE] [lines]|reset|stop SERVICE|start SERVICE [--regions 1|2]" >&2; exit 2 ;;
esac
