#!/usr/bin/env bash
# demo: start a 3-node hoard cluster on loopback, show it working, stop it.
# Usage: scripts/demo.sh [path/to/hoard]
set -euo pipefail
HOARD=${1:-bin/hoard}
DIR=$(mktemp -d -t hoard-demo.XXXXXX)
BASE=${HOARD_DEMO_PORT:-17946}   # gossip ports BASE..BASE+2, RPC BASE+100.., HTTP BASE+200..
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$DIR"
}
trap cleanup EXIT

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
$join
data_dir  = "$DIR/$name"

sink "file" "out" { path = "$DIR/out.jsonl" }
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
		[ "$try" -eq 150 ] && { echo "cluster did not converge; logs in $DIR" >&2; trap - EXIT; exit 1; }
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

say "stopping the cluster (SIGTERM: graceful leave)"
