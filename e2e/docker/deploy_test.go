//go:build e2edocker

package docker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeployComposeCluster runs deploy/compose/docker-compose.yml as the
// README does: three nodes joined through a DNS name, each on its own
// volume, RPC and HTTP published on the host's loopback. From the host,
// `hoard members` lists the three alive, `hoard incr` writes through any
// of them and `hoard count` reads it back; a node stopped by Docker leaves
// gracefully (exit 0) and rejoins from its volume when started again.
func TestDeployComposeCluster(t *testing.T) {
	image := deployImage(t)
	deployPortsFree(t, 7373, 7374, 7375, 8080, 8081, 8082)
	hoard := deployBuildCLI(t)
	p := deployUp(t, "hoard-deploy-test", "deploy/compose/docker-compose.yml", image)

	rpcs := []string{"127.0.0.1:7373", "127.0.0.1:7374", "127.0.0.1:7375"}
	for _, rpc := range rpcs {
		deployWaitMembers(t, 60*time.Second, 3, func() ([]byte, error) {
			return deployRun(10*time.Second, hoard, "members", "--rpc", rpc, "--format", "json")
		})
	}
	for _, port := range []int{8080, 8081, 8082} {
		deployWaitReady(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), 30*time.Second)
	}

	// A key no earlier run wrote, through the second node.
	key := "/deploy-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	start := time.Now()
	if out, err := deployRun(10*time.Second, hoard, "incr", "pageviews", key, "7", "--rpc", rpcs[1]); err != nil {
		t.Fatalf("hoard incr from the host: %v\n%s", err, out)
	}
	took := time.Since(start)
	t.Logf("hoard incr from the host took %v", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("hoard incr from the host took %v: does the CLI dial container IPs?", took.Round(time.Millisecond))
	}
	// What the owner holds plus what it has flushed to its log (stdout sink,
	// every 5s) is what was written.
	waitFor(t, 30*time.Second, "the increment held or flushed", func() error {
		out, err := deployRun(10*time.Second, hoard, "count", "pageviews", key, "--rpc", rpcs[2])
		if err != nil {
			t.Fatalf("hoard count: %v\n%s", err, out)
		}
		held, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			t.Fatalf("hoard count printed %q", out)
		}
		logs, _ := p.compose(30*time.Second, "logs", "--no-color")
		if flushed := deployFlushed(logs, key); held+flushed != 7 {
			return fmt.Errorf("key %s: held %d + flushed %d, want 7", key, held, flushed)
		}
		return nil
	})

	// A graceful stop within stop_grace_period, and a restart from the volume.
	if out, err := p.compose(60*time.Second, "stop", "hoard2"); err != nil {
		t.Fatalf("stop hoard2: %v\n%s", err, out)
	}
	if out, err := deployRun(10*time.Second, "docker", "inspect", "-f", "{{.State.ExitCode}}", "hoard-deploy-test_hoard2_1"); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("hoard2 stopped with exit code %q (%v), want 0 after a graceful leave", strings.TrimSpace(string(out)), err)
	}
	if out, err := p.compose(60*time.Second, "start", "hoard2"); err != nil {
		t.Fatalf("start hoard2: %v\n%s", err, out)
	}
	deployWaitMembers(t, 60*time.Second, 3, func() ([]byte, error) {
		return deployRun(10*time.Second, hoard, "members", "--rpc", rpcs[1], "--format", "json")
	})
}

// TestDeployDNSDiscovery: one service scaled to three replicas, each told
// only to join the service's name, which Docker's DNS answers with every
// replica's address (as a Kubernetes headless service does): every replica
// lists all three alive.
func TestDeployDNSDiscovery(t *testing.T) {
	image := deployImage(t)
	p := deployUp(t, "hoard-deploy-disc", "deploy/compose/discovery-test.yml", image)
	for i := 1; i <= 3; i++ {
		deployWaitMembers(t, 60*time.Second, 3, func() ([]byte, error) {
			return p.compose(15*time.Second, "exec", "-T", "--index", strconv.Itoa(i), "node",
				"/hoard", "members", "--rpc", "127.0.0.1:7373", "--format", "json")
		})
	}
}

// deployFlushed sums the counts the stdout sink logged for key.
func deployFlushed(logs []byte, key string) int64 {
	var sum int64
	sc := bufio.NewScanner(strings.NewReader(string(logs)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.IndexByte(line, '{')
		if i < 0 || !strings.Contains(line, key) {
			continue
		}
		var rec struct {
			Store string `json:"store"`
			Key   string `json:"key"`
			Count int64  `json:"count"`
		}
		if json.Unmarshal([]byte(line[i:]), &rec) == nil && rec.Store == "pageviews" && rec.Key == key {
			sum += rec.Count
		}
	}
	return sum
}

// deployWaitMembers polls list (hoard members --format json) until it shows
// want members, all alive; a member advertising RPC at a wildcard or a
// name fails the test.
func deployWaitMembers(t *testing.T, timeout time.Duration, want int, list func() ([]byte, error)) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d alive members", want), func() error {
		out, err := list()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		var ms []struct{ Name, Status, State, RPC string }
		if err := json.Unmarshal(out, &ms); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		alive := 0
		for _, m := range ms {
			host, _, _ := net.SplitHostPort(m.RPC)
			if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
				t.Fatalf("member %s advertises RPC at %q, which peers cannot dial", m.Name, m.RPC)
			}
			if m.Status == "alive" && m.State == "alive" {
				alive++
			}
		}
		if alive != want || len(ms) != want {
			return fmt.Errorf("last answer:\n%s", out)
		}
		return nil
	})
}

// deployWaitReady polls url until it answers 200.
func deployWaitReady(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, timeout, url+" to be ready", func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}

// deployPortsFree fails the test, naming the port, when something on the
// host already listens on one of the loopback ports the compose file
// publishes.
func deployPortsFree(t *testing.T, ports ...int) {
	t.Helper()
	for _, port := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is taken (%v): the compose file publishes the cluster there; stop what listens on it (another test or a local agent) and run again", addr, err)
		}
		_ = ln.Close()
	}
}
