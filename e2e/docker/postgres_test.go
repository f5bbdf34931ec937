//go:build e2edocker

package docker

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres is a throw-away PostgreSQL server on the host, listening on
// 127.0.0.1 and on a test network's gateway only, with trust
// authentication for loopback and that network's subnet alone.
type postgres struct {
	port         int
	hostDSN      string // from the test process, over loopback
	containerDSN string // from the containers, through the gateway
}

// pgBinDir finds the newest PostgreSQL binaries: Debian's
// /usr/lib/postgresql/*/bin, or initdb on PATH.
func pgBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL binaries (initdb, pg_ctl) found; source scripts/ci-postgres.sh, which installs them")
}

// startPostgres starts a server for network n, stopped and removed when t
// ends, with a database hoard_chaos. As root it runs as the postgres user
// (initdb refuses root), as scripts/ci-postgres.sh does.
func startPostgres(t *testing.T, n *chaosNetwork) *postgres {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var as []string
	dir, err := os.MkdirTemp("", "hoard-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(timeout time.Duration, name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		argv := append(append(slices.Clone(as), filepath.Join(bin, name)), args...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(2*time.Minute, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	// initdb's pg_hba.conf trusts loopback; add the test network's subnet,
	// and nothing else.
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(hba, "host all all %s trust\n", n.subnet)
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	pg := &postgres{}
	var startErr error
	for range 10 {
		pg.port = freeTCPPort(t, n.gateway)
		opts := fmt.Sprintf("-c listen_addresses='127.0.0.1,%s' -p %d -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
			n.gateway, pg.port)
		startErr = run(90*time.Second, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-s", "-o", opts, "start")
		if startErr == nil {
			break
		}
		if log, _ := os.ReadFile(filepath.Join(dir, "server.log")); !strings.Contains(string(log), "could not bind") {
			break
		}
	}
	if startErr != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("%v\n%s", startErr, log)
	}
	t.Cleanup(func() {
		if err := run(time.Minute, "pg_ctl", "-D", data, "-m", "immediate", "-s", "-w", "stop"); err != nil {
			t.Logf("clean-up: %v", err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var listen string
	if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if want := "127.0.0.1," + n.gateway; listen != want {
		t.Fatalf("PostgreSQL listens on %q, want %q only", listen, want)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE hoard_chaos"); err != nil {
		t.Fatal(err)
	}
	pg.hostDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/hoard_chaos?sslmode=disable", pg.port)
	pg.containerDSN = fmt.Sprintf("postgres://postgres@%s:%d/hoard_chaos?sslmode=disable", n.gateway, pg.port)
	return pg
}

// freeTCPPort returns a TCP port free on both 127.0.0.1 and the gateway
// address.
func freeTCPPort(t *testing.T, gateway string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		g, err := net.Listen("tcp", net.JoinHostPort(gateway, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			g.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}
