#!/usr/bin/env bash
# The acknowledgement levels side by side (make bench-acks): BenchmarkAckLevels
# (increments through one ring-aware client, 256 callers, a 3-node cluster in
# one process, a fresh cluster per level) run ROUNDS times, each round running
# every level once, one after the other. Each level's throughput is divided by
# the same round's `memory`, and the median of those ratios is printed: this
# machine's speed drifts by ±10% within minutes, which ratios of levels run
# seconds apart cancel, and medians of separate runs do not.
#
# Environment: ROUNDS (default 7), BENCHTIME (per level and round, default 2s),
# LEVELS (a regexp of the levels, default all five).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-7}
BENCHTIME=${BENCHTIME:-2s}
LEVELS=${LEVELS:-'memory|wal|wal-always|replicated|replicated-always'}

work=$(mktemp -d "${TMPDIR:-/tmp}/hoard-bench-acks.XXXXXX")
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/node.test" ./node/

echo "# hoard $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%FT%TZ), $ROUNDS rounds of $BENCHTIME per level"
for round in $(seq 1 "$ROUNDS"); do
	(cd node && "$work/node.test" -test.run '^$' -test.bench "AckLevels/($LEVELS)\$" -test.benchtime "$BENCHTIME" -test.count 1) |
		awk -v round="$round" '/^BenchmarkAckLevels\// {
			name = $1; sub(/^BenchmarkAckLevels\//, "", name); sub(/-[0-9]+$/, "", name)
			for (i = 2; i < NF; i++) if ($(i + 1) == "ops/s") print round, name, $i
		}' >>"$work/runs"
	awk -v r="$round" 'BEGIN { printf "round %s:", r } $1 == r { printf " %s %.0f/s", $2, $3 } END { print "" }' "$work/runs"
done

echo
echo "| ack | median increments/s | median of the rounds' ratios to memory | range of the ratios |"
echo "|---|---|---|---|"
awk '
	{ ops[$1, $2] = $3; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 }; rounds[$1] = 1 }
	function median(a, k,   i, j, t) {
		for (i = 1; i < k; i++) for (j = i; j > 0 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return k % 2 ? a[int(k / 2)] : (a[k / 2 - 1] + a[k / 2]) / 2
	}
	END {
		for (l = 0; l < n; l++) {
			name = order[l]; k = 0; m = 0
			delete r; delete o
			for (x in rounds) {
				if ((x, name) in ops) o[m++] = ops[x, name]
				if ((x, name) in ops && (x, "memory") in ops) r[k++] = ops[x, name] / ops[x, "memory"]
			}
			lo = hi = r[0]; for (i = 1; i < k; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
			printf "| %s | %.0f k | %.2fx | %.2f-%.2fx |\n", name, median(o, m) / 1000, median(r, k), lo, hi
		}
	}' "$work/runs"
