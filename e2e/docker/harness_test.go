//go:build e2edocker

// Package docker runs hoard's container image (hoard:dev, from `make
// image`) on private Docker networks and drives it from the host: chaos
// (containers killed, frozen, cut off and restarted under writers) and the
// Compose deployment. Run with `make e2e-docker`; it needs Docker and, for
// the chaos tests, PostgreSQL's binaries (scripts/ci-postgres.sh installs
// them).
//
// Every Docker resource a test creates is named with a "hoard-chaos-" (or
// the Compose tests' own) prefix and removed when the test ends, failed or
// not. Traffic stays on loopback and the tests' own networks.
package docker

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// image is the image under test: $HOARD_IMAGE, default hoard:dev.
var image = "hoard:dev"

// dockerProblem is why Docker or the image cannot be used here, "" when
// they can; set once by TestMain.
var dockerProblem string

func TestMain(m *testing.M) {
	if v := os.Getenv("HOARD_IMAGE"); v != "" {
		image = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if _, err := dockerCtx(ctx, "image", "inspect", "--format", "{{.Id}}", image); err != nil {
		dockerProblem = fmt.Sprintf("docker or the image %s is not available (run `make image`): %v", image, err)
	}
	cancel()
	os.Exit(m.Run())
}

// needDocker skips t when Docker or the image is missing, and fails it
// instead under CI=true.
func needDocker(t *testing.T) {
	t.Helper()
	if dockerProblem == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(dockerProblem)
	}
	t.Skip(dockerProblem)
}

// dockerCtx runs the docker CLI and returns its trimmed stdout; errors
// carry its stderr.
func dockerCtx(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// dockerTimeout bounds one docker CLI call; `docker stop -t 45` is the
// longest the tests make.
const dockerTimeout = 2 * time.Minute

// docker runs the docker CLI and fails t on an error.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	out, err := dockerCtx(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerQuiet runs the docker CLI for a clean-up and logs a failure
// without failing t.
func dockerQuiet(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	if _, err := dockerCtx(ctx, args...); err != nil {
		t.Logf("clean-up: %v", err)
	}
}

// chaosName returns a fresh Docker resource name: "hoard-chaos-" and what,
// made unique by a random suffix.
func chaosName(what string) string {
	var b [3]byte
	_, _ = crand.Read(b[:])
	return "hoard-chaos-" + what + "-" + hex.EncodeToString(b[:])
}

// chaosNetwork is a user-defined bridge network with a fixed subnet, so
// that containers get the addresses the tests give them, and the host
// reaches them directly (it routes to the bridge) and through the gateway
// address they reach the host (PostgreSQL listens there).
type chaosNetwork struct {
	name    string
	subnet  string // e.g. 10.215.15.0/24
	gateway string // the host's address on it, .1
	prefix  string // e.g. "10.215.15.": node i is at prefix + (10+i)
}

// chaosSubnetPrefixes are the subnets newNetwork tries, in turn, while
// one overlaps a network that exists (another run of these tests, say):
// outside Docker's default address pools (172.17-31/16, 192.168/16), so
// that networks made by Compose never take them. $HOARD_CHAOS_SUBNET_PREFIX
// (three octets and a dot, "10.9.8.") names the only one to use.
func chaosSubnetPrefixes() []string {
	if p := os.Getenv("HOARD_CHAOS_SUBNET_PREFIX"); p != "" {
		return []string{p}
	}
	var out []string
	for i := 15; i < 25; i++ {
		out = append(out, fmt.Sprintf("10.215.%d.", i))
	}
	return out
}

// newNetwork creates a network named hoard-chaos-net-…, removed when t
// ends.
func newNetwork(t *testing.T) *chaosNetwork {
	t.Helper()
	name := chaosName("net")
	var errs []string
	for _, p := range chaosSubnetPrefixes() {
		n := &chaosNetwork{name: name, subnet: p + "0/24", gateway: p + "1", prefix: p}
		ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
		_, err := dockerCtx(ctx, "network", "create", "--driver", "bridge", "--subnet", n.subnet, "--gateway", n.gateway,
			"--label", "hoard-chaos=1", n.name)
		cancel()
		if err == nil {
			t.Cleanup(func() { dockerQuiet(t, "network", "rm", n.name) })
			return n
		}
		errs = append(errs, err.Error())
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	t.Fatalf("no test network (left over from an interrupted run? docker network ls --filter label=hoard-chaos=1):\n%s", strings.Join(errs, "\n"))
	return nil
}

// waitFor checks cond until it returns nil, and fails the test with what
// and cond's last error if that has not happened after timeout. Polls back
// off to 250ms.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
			return
		}
		time.Sleep(interval) // poll interval, not synchronisation
		interval = min(2*interval, 250*time.Millisecond)
	}
}
