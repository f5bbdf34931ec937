# shellcheck shell=bash
# Starts a throw-away PostgreSQL for the tests and exports its DSN:
#
#	source scripts/ci-postgres.sh && go test ./loaders/
#
# Meant to be SOURCED (by .ci/run), so that HOARD_TEST_POSTGRES_DSN reaches
# the caller. It installs PostgreSQL from Debian when no initdb is found,
# creates a fresh cluster in a temporary directory (owned by the postgres
# user when run as root), listening only on 127.0.0.1 (no Unix socket) on the
# first free port from 54329 up, with trust authentication, creates the
# database hoard_test and exports
#
#	HOARD_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:PORT/hoard_test?sslmode=disable
#
# The server is stopped and its directory removed when the sourcing shell
# exits (an EXIT trap, chained after any trap already set), or by hand with
# `hoard_pg_stop`. If HOARD_TEST_POSTGRES_DSN is already set it does nothing,
# so it may be sourced twice, or pointed at a database of your own.
# Set HOARD_PG_KEEP=1 to leave the server running after the shell exits.

hoard_pg_start() {
	if [[ -n "${HOARD_TEST_POSTGRES_DSN:-}" ]]; then
		echo "ci-postgres: HOARD_TEST_POSTGRES_DSN already set; not starting a server" >&2
		return 0
	fi

	local sudo=""
	if [[ "$(id -u)" != 0 ]]; then
		sudo="sudo"
	fi

	# The newest versioned Debian binaries, or whatever initdb is on PATH.
	local bin="" log
	bin="$(hoard_pg_bindir)"
	if [[ -z "$bin" ]]; then
		echo "ci-postgres: installing postgresql from apt" >&2
		log="$(mktemp "${TMPDIR:-/tmp}/hoard-pg-apt.XXXXXX")" || return 1
		if ! { $sudo apt-get update -qq &&
			$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
			echo "ci-postgres: apt-get install postgresql failed:" >&2
			tail -n 30 "$log" >&2
			rm -f "$log"
			return 1
		fi
		rm -f "$log"
		bin="$(hoard_pg_bindir)"
		if [[ -z "$bin" ]]; then
			echo "ci-postgres: no initdb found after installing postgresql" >&2
			return 1
		fi
	fi

	# initdb refuses to run as root: as root, run the server as postgres.
	local -a as=()
	if [[ "$(id -u)" == 0 ]]; then
		if ! id postgres >/dev/null 2>&1; then
			useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
		fi
		as=(runuser -u postgres --)
	fi

	local dir
	dir="$(mktemp -d "${TMPDIR:-/tmp}/hoard-pg.XXXXXX")" || return 1
	chmod 755 "$dir"
	if [[ ${#as[@]} -gt 0 ]]; then
		chown postgres: "$dir"
	fi
	HOARD_PG_DIR="$dir"
	HOARD_PG_BIN="$bin"
	HOARD_PG_AS="${as[*]}"

	if ! (cd "$dir" && "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync \
		>"$dir/initdb.log" 2>&1); then
		echo "ci-postgres: initdb failed:" >&2
		tail -n 20 "$dir/initdb.log" >&2
		hoard_pg_stop
		return 1
	fi

	local port="" p started=""
	for p in 54329 54330 54331 54332 54333 54334 54335 54336 54337 54338; do
		# Busy if something already accepts connections there.
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			continue
		fi
		if (cd "$dir" && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -s \
			-o "-c listen_addresses=127.0.0.1 -p $p -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
			start >/dev/null 2>&1); then
			port="$p"
			started=1
			break
		fi
		# Lost a race for the port: try the next one; anything else is fatal.
		if ! grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null; then
			break
		fi
	done
	if [[ -z "$started" ]]; then
		echo "ci-postgres: could not start postgres:" >&2
		tail -n 20 "$dir/server.log" >&2 2>/dev/null
		hoard_pg_stop
		return 1
	fi
	HOARD_PG_PORT="$port"

	local i
	for ((i = 0; i < 60; i++)); do
		if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -t 1; then
			break
		fi
		sleep 0.5
	done
	if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -t 1; then
		echo "ci-postgres: postgres on 127.0.0.1:$port not ready after 30s:" >&2
		tail -n 20 "$dir/server.log" >&2
		hoard_pg_stop
		return 1
	fi

	if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres hoard_test; then
		echo "ci-postgres: createdb hoard_test failed" >&2
		hoard_pg_stop
		return 1
	fi

	export HOARD_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/hoard_test?sslmode=disable"
	if [[ -z "${HOARD_PG_KEEP:-}" ]]; then
		local prev="" t
		local -a words=()
		t="$(trap -p EXIT)"
		if [[ -n "$t" ]]; then
			eval "words=($t)" # trap -- 'command' EXIT
			prev="${words[2]}"
		fi
		# shellcheck disable=SC2064 # expand prev now
		trap "hoard_pg_stop; $prev" EXIT
	fi
	echo "ci-postgres: PostgreSQL $("$bin/postgres" -V | awk '{print $3}') on 127.0.0.1:$port (data $dir); stop: hoard_pg_stop"
}

# hoard_pg_bindir prints the directory of the newest initdb/pg_ctl found.
hoard_pg_bindir() {
	local d
	d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
	if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
		echo "$d"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	fi
}

# hoard_pg_stop stops the server hoard_pg_start started and removes its
# directory. It is safe to call more than once.
hoard_pg_stop() {
	if [[ -z "${HOARD_PG_DIR:-}" ]]; then
		return 0
	fi
	local -a as=()
	if [[ -n "${HOARD_PG_AS:-}" ]]; then
		read -r -a as <<<"$HOARD_PG_AS"
	fi
	if [[ -f "$HOARD_PG_DIR/data/postmaster.pid" ]]; then
		(cd / && "${as[@]}" "$HOARD_PG_BIN/pg_ctl" -D "$HOARD_PG_DIR/data" -m immediate -s -w stop >/dev/null 2>&1) || true
	fi
	rm -rf "$HOARD_PG_DIR"
	if [[ "${HOARD_TEST_POSTGRES_DSN:-}" == *"127.0.0.1:${HOARD_PG_PORT:-x}/hoard_test"* ]]; then
		unset HOARD_TEST_POSTGRES_DSN
	fi
	unset HOARD_PG_DIR HOARD_PG_BIN HOARD_PG_AS HOARD_PG_PORT
}

hoard_pg_start
