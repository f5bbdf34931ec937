#!/usr/bin/env bash
# demo: start a 3-node hoard cluster on loopback, show it working, stop it.
# Usage: scripts/demo.sh [path/to/hoard]
set -euo pipefail
HOARD=${1:-bin/hoard}
DIR=$(mktemp -d -t hoard-demo.XXXXXX)
BASE=${HOARD_DEMO_PORT:-17946}   # gossip ports BASE..BASE+2, RPC BASE+100.., HTTP BASE+200..
pids=()
incrs=()

keep=""   # set when something failed: the logs stay for a look
cleanup() {
	# Never leave an agent running: each holds its ports.
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$keep" ]; then echo "logs kept in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

# fail names each node that exited, or whose log has an error, with the
# first error line of its log (a port already in use, say), and exits 1;
# the EXIT trap stops the rest.
fail() {
	echo "demo: $*" >&2
	for i in 0 1 2; do
		name="n$((i + 1))"
		line=$(grep -m1 -E '^hoard: |\[ERROR\]' "$DIR/$name.log" 2>/dev/null || true)
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "  $name exited: ${line:-(no error in its log)}" >&2
		elif [ -n "$line" ]; then
			echo "  $name: $line" >&2
		fi
	done
	keep=1
	exit 1
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

for i in 0 1 2; do
	name="n$((i + 1))"
	join=""
	[ "$i" -gt 0 ] && join="join = [\"127.0.0.1:$BASE\"]"
	cat >"$DIR/$name.hcl" <<HCL
name      = "$name"
bind_addr = "127.0.0.1:$((BASE + i))"
rpc_addr  = "127.0.0.1:$((BASE + 100 + i))"
http_addr = "127.0.0.1:$((BASE + 200 + i))"
resp_addr = "127.0.0.1:$((BASE + 300 + i))"
$join
data_dir  = "$DIR/$name"

sink "file" "out" { path = "$DIR/$name/out.jsonl" }

counter "pageviews" {
  sink     = "out"
  interval = "2s"
  jitter   = "500ms"
}

buffer "events" {
  sink     = "out"
  interval = "2s"
  max_size = 100
}
HCL
	"$HOARD" agent --config "$DIR/$name.hcl" 2>"$DIR/$name.log" &
	pids+=($!)
done

RPC1="127.0.0.1:$((BASE + 100))"
say "waiting until every node's ring holds 3 members"
for i in 0 1 2; do
	for try in $(seq 1 150); do
		n=$("$HOARD" ring --rpc "127.0.0.1:$((BASE + 100 + i))" --format json 2>/dev/null | grep -c '"rpc"' || true)
		[ "$n" -ge 3 ] && break
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || fail "an agent exited at start"; done
		[ "$try" -eq 150 ] && fail "the cluster did not converge within 15s"
		sleep 0.1
	done
done
"$HOARD" members --rpc "$RPC1"

say "ring as seen from n2"
"$HOARD" ring --rpc "127.0.0.1:$((BASE + 101))"

say "every node names the same owner"
for i in 0 1 2; do
	printf 'asked n%d: ' $((i + 1))
	"$HOARD" owner pageviews /home --rpc "127.0.0.1:$((BASE + 100 + i))" --format json | tr -d ' \n'
	echo
done

say "sending 90 increments over 3 pages, round-robin to all three nodes"
pages=(/home /pricing /docs)
for i in $(seq 0 89); do
	"$HOARD" incr pageviews "${pages[$((i % 3))]}" 1 --rpc "127.0.0.1:$((BASE + 100 + i % 3))" &
	incrs+=($!)
	if (( i % 10 == 9 )); then
		for pid in "${incrs[@]}"; do wait "$pid"; done
		incrs=()
	fi
done
"$HOARD" incr pageviews /home 10 --rpc "$RPC1"
echo "sent: /home 40, /pricing 30, /docs 30"
printf 'unflushed at the owner of /home: '
"$HOARD" count pageviews /home --rpc "127.0.0.1:$((BASE + 102))"

say "a Redis client writes too: redis-cli -p $((BASE + 301)) INCRBY pageviews:/signup 7 (n2's resp_addr)"
if command -v redis-cli >/dev/null; then
	printf 'reply (the count held at the owner): '
	redis-cli -p "$((BASE + 301))" INCRBY pageviews:/signup 7
else
	echo "(redis-cli is not installed: apt-get install redis-tools; skipped)"
fi

say "inserting events for two users through different nodes; each key keeps its order"
"$HOARD" insert events u1 login "view /home" --rpc "$RPC1"
"$HOARD" insert events u2 signup --rpc "127.0.0.1:$((BASE + 101))"
"$HOARD" insert events u1 logout --rpc "127.0.0.1:$((BASE + 102))"
echo "held for u1 at its owner:"
"$HOARD" dump events u1 --rpc "$RPC1" | sed 's/^/  /'
"$HOARD" info --rpc "$RPC1"

say "flushing every node now (they also flush every 2s on their own)"
"$HOARD" flush --rpc "$RPC1"

say "what reached the file sinks (one file per node; each key flushed by its owner)"
cat "$DIR"/n*/out.jsonl
echo
echo "counter sums:"
awk -F'"' '/"kind":"counter"/ {
		for (i = 1; i < NF; i++) { if ($i == "key") k = $(i + 2); if ($i == "node") n = $(i + 2) }
		match($0, /"count":-?[0-9]+/); sum[k] += substr($0, RSTART + 8, RLENGTH - 8); by[k] = n }
	END { for (k in sum) printf "  %-10s %4d  (flushed by %s)\n", k, sum[k], by[k] }' "$DIR"/n*/out.jsonl | sort

say "stopping the cluster (SIGTERM: graceful leave)"
