#!/usr/bin/env bash
# hoard's RESP front door against redis-server, side by side in one run,
# with the same redis-benchmark commands (make bench-redis).
#
# Each server runs pinned to one core (taskset -c $SERVER_CPU) and the load
# to the other ($LOAD_CPU); the servers are benchmarked in turn, each test
# on redis then at once on hoard. The hoard side is `hoard agent`, built
# from this tree, as users run it.
#
#   throughput   redis-benchmark -c 50 -r 100000 -n N -P 1|16, for INCR,
#                RPUSH and GET of cached keys:
#                  hoard ack="memory"  vs redis-server without persistence
#                  hoard ack="wal"     vs redis-server appendonly everysec
#                  3 hoard nodes (load spread over them) vs the first redis
#   memory       RSS growth per counter key: 1,000,000 distinct keys INCRed
#                through redis-cli --pipe, hoard (ack="memory") vs redis
#   flush        writers' latency (p99.9, max) with 200,000 dirty counter
#                keys flushed every 2s to the file sink, against the same
#                run with no flush, and the same load on redis-server as the
#                machine's floor; each run takes NFLUSH requests, several
#                flushes' worth
#
# One server's throughput swings by 10-20% from run to run on a shared
# machine, so each one-node row is ROUNDS rounds, the servers alternating
# (redis, hoard, redis, hoard, ...): the row is each server's median and
# their ratio, followed by every round's ratio. The 3-node rows take one.
#
# Environment: N1 (requests at -P 1, default 300000), N16 (at -P 16, default
# 3000000), NFLUSH (per flush run, default 12000000), ROUNDS (5), FLUSH_ROUNDS
# (rounds of the flush rows, 3), SERVER_CPU (1),
# LOAD_CPU (0), ONLY (a space-separated subset of
# "throughput memory flush"). Needs redis-server, redis-benchmark and
# redis-cli (Debian: apt-get install redis-server redis-tools) and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."

N1=${N1:-300000}
N16=${N16:-3000000}
NFLUSH=${NFLUSH:-12000000}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
ONLY=${ONLY:-throughput memory flush}
ROUNDS=${ROUNDS:-5}
FLUSH_ROUNDS=${FLUSH_ROUNDS:-3}

for bin in redis-server redis-benchmark redis-cli taskset; do
	command -v "$bin" >/dev/null || { echo "bench-redis: $bin not found (apt-get install redis-server redis-tools util-linux)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hoard-bench-redis.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/hoard" ./cmd/hoard

# free_port prints a free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ping() {
	local port=$1
	for _ in $(seq 1 200); do
		[[ "$(redis-cli -p "$port" PING 2>/dev/null)" == PONG ]] && return 0
		sleep 0.05
	done
	echo "bench-redis: nothing answers PING on port $port" >&2
	return 1
}

# start_redis NAME ARGS...: a redis-server pinned to SERVER_CPU; sets PORT
# and PID.
start_redis() {
	local name=$1
	shift
	PORT=$(free_port)
	mkdir -p "$work/$name"
	taskset -c "$SERVER_CPU" redis-server --port "$PORT" --bind 127.0.0.1 --dir "$work/$name" \
		--save "" --daemonize no --logfile "$work/$name/log" "$@" &
	PID=$!
	pids+=("$PID")
	wait_ping "$PORT"
}

# start_hoard NAME ACK INTERVAL [JOIN]: a hoard agent pinned to SERVER_CPU
# with the stores the benchmarks use; sets PORT, PID and GOSSIP.
start_hoard() {
	local name=$1 ack=$2 interval=$3 join=${4:-}
	PORT=$(free_port)
	GOSSIP=127.0.0.1:$(free_port)
	mkdir -p "$work/$name"
	cat >"$work/$name/hoard.hcl" <<EOF
name      = "$name"
bind_addr = "$GOSSIP"
rpc_addr  = "127.0.0.1:$(free_port)"
http_addr = ""
resp_addr = "127.0.0.1:$PORT"
data_dir  = "$work/$name/data"
${join:+join = [\"$join\"]}
log_level = "warn"
sink "file" "out" { path = "$work/$name/out.jsonl" }
counter "counter" {
  sink     = "out"
  interval = "$interval"
  ack      = "$ack"
}
buffer "mylist" {
  sink      = "out"
  interval  = "$interval"
  ack       = "$ack"
  max_bytes = "4GiB"
}
cache "key" {
  loader "http" { url = "http://127.0.0.1:9/{key}" }
}
EOF
	taskset -c "$SERVER_CPU" "$work/hoard" agent --config "$work/$name/hoard.hcl" 2>"$work/$name/log" &
	PID=$!
	pids+=("$PID")
	wait_ping "$PORT"
}

stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# rps PORT N P ARGS...: requests per second redis-benchmark reports.
rps() {
	local port=$1 n=$2 p=$3
	shift 3
	taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -c 50 -r 100000 -n "$n" -P "$p" -q --csv "$@" 2>/dev/null |
		tail -1 | cut -d, -f2 | tr -d '"'
}

# fill_cache PORT: SET key:000000000000 .. key:000000099999, the keys GET
# reads, through one pipe.
fill_cache() {
	awk 'BEGIN { for (i = 0; i < 100000; i++) printf "SET key:%012d xxx\r\n", i }' |
		redis-cli -p "$1" --pipe >/dev/null
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo "# hoard $(git describe --always --dirty 2>/dev/null || echo '?') against redis-server $(redis-server --version | awk '{print $3}' | sed s/v=//), $(date -u +%FT%TZ)"
echo "# servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU; -c 50 -r 100000, -n $N1 at -P 1, -n $N16 at -P 16; one-node rows: median of $ROUNDS alternating rounds"

tests=("INCR:-t incr" "RPUSH:RPUSH mylist:__rand_int__ xxx" "GET:-t get")

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# throughput LABEL RPORT HPORT: each test ROUNDS times, redis then hoard in
# each round; the row gives each server's median and their ratio, then
# every round's ratio.
throughput() {
	local label=$1 rport=$2 hport=$3
	fill_cache "$rport"
	fill_cache "$hport"
	for t in "${tests[@]}"; do
		local name=${t%%:*} args=${t#*:}
		for p in 1 16; do
			local n=$N1 rs="" hs="" each=""
			[[ $p == 16 ]] && n=$N16
			for _ in $(seq 1 "$ROUNDS"); do
				# shellcheck disable=SC2086
				r=$(rps "$rport" "$n" "$p" $args)
				# shellcheck disable=SC2086
				h=$(rps "$hport" "$n" "$p" $args)
				rs="$rs $r" hs="$hs $h" each="$each $(ratio "$h" "$r")"
			done
			r=$(median <<<"$rs") h=$(median <<<"$hs")
			printf "| %-28s | %-5s | %2s | %12.0f | %12.0f | %6s |%s |\n" "$label" "$name" "$p" "$r" "$h" "$(ratio "$h" "$r")" "$each"
		done
	done
}

if [[ " $ONLY " == *" throughput "* ]]; then
	echo
	echo "| hoard vs redis-server          | test  | -P | redis req/s  | hoard req/s  | ratio  | each round |"
	echo "|------------------------------|-------|----|--------------|--------------|--------|------------|"
	start_redis redis-mem; rport=$PORT; rpid=$PID
	start_hoard hoard-mem memory 1h; hport=$PORT; hpid=$PID
	throughput 'memory vs no persistence' "$rport" "$hport"
	stop "$hpid"

	# Three nodes, all on SERVER_CPU, one redis-benchmark each on LOAD_CPU.
	start_hoard h1 memory 1h; p1=$PORT; seed=$GOSSIP
	start_hoard h2 memory 1h "$seed"; p2=$PORT
	start_hoard h3 memory 1h "$seed"; p3=$PORT
	for _ in $(seq 1 100); do
		[[ "$(redis-cli -p "$p1" INFO server | tr -d '\r' | awk -F: '/^hoard_members:/ {print $2}')" == 3 ]] && break
		sleep 0.1
	done
	fill_cache "$p1"
	for t in "${tests[@]}"; do
		name=${t%%:*} args=${t#*:}
		for p in 1 16; do
			n=$N1
			[[ $p == 16 ]] && n=$N16
			# shellcheck disable=SC2086
			r=$(rps "$rport" "$n" "$p" $args)
			sum=0
			loads=()
			for port in $p1 $p2 $p3; do
				# shellcheck disable=SC2086
				rps "$port" $((n / 3)) "$p" $args >"$work/rps.$port" &
				loads+=($!)
			done
			wait "${loads[@]}"
			for port in $p1 $p2 $p3; do sum=$(awk -v s="$sum" -v x="$(cat "$work/rps.$port")" 'BEGIN { print s + x }'); done
			printf "| %-28s | %-5s | %2s | %12.0f | %12.0f | %6s | one |\n" "3 nodes, memory vs no persistence" "$name" "$p" "$r" "$sum" "$(ratio "$sum" "$r")"
		done
	done
	stop "$rpid"

	start_redis redis-aof --appendonly yes --appendfsync everysec; rport=$PORT; rpid=$PID
	start_hoard hoard-wal wal 1h; hport=$PORT; hpid=$PID
	throughput 'wal vs appendonly everysec' "$rport" "$hport"
	stop "$rpid"
	stop "$hpid"
fi

if [[ " $ONLY " == *" memory "* ]]; then
	echo
	echo "| RSS growth per counter key, 1,000,000 keys | redis | hoard | ratio |"
	echo "|---------------------------------------------|-------|-------|-------|"
	awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "INCR counter:%d\r\n", i }' >"$work/incr.txt"
	start_redis redis-rss; rport=$PORT; rpid=$PID
	start_hoard hoard-rss memory 1h; hport=$PORT; hpid=$PID
	r0=$(rss_kib "$rpid"); h0=$(rss_kib "$hpid")
	redis-cli -p "$rport" --pipe <"$work/incr.txt" >/dev/null
	redis-cli -p "$hport" --pipe <"$work/incr.txt" >/dev/null
	r1=$(rss_kib "$rpid"); h1=$(rss_kib "$hpid")
	rb=$(( (r1 - r0) * 1024 / 1000000 )); hb=$(( (h1 - h0) * 1024 / 1000000 ))
	printf "| bytes per key                               | %5d | %5d | %5s |\n" "$rb" "$hb" "$(ratio "$hb" "$rb")"
	echo "# redis used_memory: $(redis-cli -p "$rport" INFO memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}') bytes; hoard keys held: $(redis-cli -p "$hport" INFO keyspace | tr -d '\r' | awk -F: '/^store_counter:/ {print $2}')"
	stop "$rpid"
	stop "$hpid"
fi

# p999 PORT N: writers' p99.9 and max latency (ms) under INCR of 200,000 keys.
p999() {
	taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -c 50 -r 200000 -n "$2" -P 16 -t incr --precision 3 2>/dev/null | tr -d '\r' | awk '
		/^ *[0-9.]+% <= / && !done { pct = $1; sub("%", "", pct); if (pct + 0 >= 99.9) { p = $3; done = 1 } }
		/throughput summary:/ { rps = $3 }
		/^ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ *$/ { max = $6 }
		END { printf "%s %s %s\n", p, max, rps }'
}

if [[ " $ONLY " == *" flush "* ]]; then
	# FLUSH_ROUNDS rounds of the three runs (no flush, flush every 2s,
	# redis-server), alternating: one max says little on a noisy machine.
	# Each row gives the median over the rounds, then every round's figure.
	echo
	echo "| writers during flushes (INCR, 200,000 keys, -P 16) | p99.9 ms (median) | max ms (median) | req/s (median) | p99.9 each round | max each round |"
	echo "|------------------------------------------------------|-------------------|-----------------|----------------|------------------|----------------|"
	declare -A fp fm fr
	for _ in $(seq 1 "$FLUSH_ROUNDS"); do
		for run in "no flush:1h" "flush every 2s:2s"; do
			label=${run%%:*} interval=${run#*:}
			start_hoard "hoard-flush-$interval" memory "$interval"; hpid=$PID
			read -r p mx r < <(p999 "$PORT" "$NFLUSH")
			fp[$label]="${fp[$label]:-} $p" fm[$label]="${fm[$label]:-} $mx" fr[$label]="${fr[$label]:-} $r"
			stop "$hpid"
			rm -rf "$work/hoard-flush-$interval"
		done
		# The same load on redis-server, which never flushes: the machine's
		# own floor for the max (a stall of the host shows on both).
		label="redis-server, no persistence (for reference)"
		start_redis redis-flush; rpid=$PID
		read -r p mx r < <(p999 "$PORT" "$NFLUSH")
		fp[$label]="${fp[$label]:-} $p" fm[$label]="${fm[$label]:-} $mx" fr[$label]="${fr[$label]:-} $r"
		stop "$rpid"
	done
	for label in "no flush" "flush every 2s" "redis-server, no persistence (for reference)"; do
		printf "| %-52s | %17s | %15s | %14.0f |%s |%s |\n" "$label" "$(median <<<"${fp[$label]}")" \
			"$(median <<<"${fm[$label]}")" "$(median <<<"${fr[$label]}")" "${fp[$label]}" "${fm[$label]}"
	done
fi
