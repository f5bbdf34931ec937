#!/usr/bin/env bash
# The event-loop probe (README.md, "Tried, not kept: an event loop"):
# redis-server, then this directory's server with a goroutine per
# connection (net), then with one gnet event loop (gnet), each pinned to
# SERVER_CPU (1), the load to LOAD_CPU (0); in each of ROUNDS (5) rounds
# the same redis-benchmark GET of 100,000 cached keys at -P P (16), N
# (3000000) requests, on each server in turn. Set LOCK_OS_THREAD=1 to lock
# gnet's loop to its thread. Needs redis-server, redis-benchmark,
# redis-cli and taskset.
set -euo pipefail
cd "$(dirname "$0")"
P=${P:-16} N=${N:-3000000} ROUNDS=${ROUNDS:-5} SERVER_CPU=${SERVER_CPU:-1} LOAD_CPU=${LOAD_CPU:-0}

work=$(mktemp -d "${TMPDIR:-/tmp}/eventloop.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/eventloop" .

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ping() {
	for _ in $(seq 1 200); do
		[[ -n "$(redis-cli -p "$1" PING 2>/dev/null)" ]] && return 0 # PONG, or the probe's OK
		sleep 0.05
	done
	echo "eventloop: nothing answers on port $1" >&2
	return 1
}

rport=$(free_port) nport=$(free_port) gport=$(free_port)
taskset -c "$SERVER_CPU" redis-server --port "$rport" --bind 127.0.0.1 --save "" --daemonize no --logfile "$work/redis.log" &
pids+=($!)
taskset -c "$SERVER_CPU" "$work/eventloop" net "127.0.0.1:$nport" &
pids+=($!)
taskset -c "$SERVER_CPU" "$work/eventloop" gnet "127.0.0.1:$gport" >"$work/gnet.log" 2>&1 &
pids+=($!)
for port in $rport $nport $gport; do wait_ping "$port"; done
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "SET key:%012d xxx\r\n", i }' | redis-cli -p "$rport" --pipe >/dev/null

rps() {
	taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -c 50 -r 100000 -n "$N" -P "$P" -q --csv -t get 2>/dev/null |
		tail -1 | cut -d, -f2 | tr -d '"'
}
echo "GET -P $P, $N requests a run; req/s, and each probe's ratio to redis-server"
for round in $(seq 1 "$ROUNDS"); do
	r=$(rps "$rport") n=$(rps "$nport") g=$(rps "$gport")
	awk -v i="$round" -v r="$r" -v n="$n" -v g="$g" 'BEGIN {
		printf "round %d: redis %.0f  net %.0f (%.2fx)  gnet %.0f (%.2fx)  gnet/net %.2fx\n", i, r, n, n / r, g, g / r, g / n }'
done
