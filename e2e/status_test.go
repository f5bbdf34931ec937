//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusShot is where TestStatusPageInChromium saves its screenshot, a
// test artifact (.e2e/ is not committed). HOARD_UPDATE_SCREENSHOT=1 saves
// it as docs/status.png instead, the copy the README shows.
func statusShot() string {
	if os.Getenv("HOARD_UPDATE_SCREENSHOT") == "1" {
		return "../docs/status.png"
	}
	return "../.e2e/artifacts/status.png"
}

// chromium is Debian's chromium, which .ci/run installs.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found under CI; .ci/run installs chromium")
		}
		t.Skip("chromium not found; apt-get install chromium")
	}
	return path
}

// headless loads url in headless Chromium, with a fresh profile and
// virtual time enough for the page's script to refresh it at least once,
// and returns the DOM it ends with. With shot set, it saves a screenshot
// there instead and returns nothing.
func headless(t *testing.T, bin, url, shot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000"}
	if shot != "" {
		args = append(args, "--screenshot="+shot, "--window-size=1280,900")
	} else {
		args = append(args, "--dump-dom")
	}
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	// Chromium starts helpers: stop them all with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// pageView is what the status page shows, read back from its DOM.
type pageView struct {
	refreshes int               // times the script redrew the page
	members   map[string]string // name -> status
	owners    []string          // the ring's owners, from its arcs
	legend    []string          // the ring's legend rows' owners
	stores    map[string][]string
	nodes     []string
}

var (
	reRefreshes = regexp.MustCompile(`<body[^>]*data-refreshes="(\d+)"`)
	reMember    = regexp.MustCompile(`<tr class="member" data-name="([^"]*)" data-status="([^"]*)"`)
	reArc       = regexp.MustCompile(`<path class="arc" data-owner="([^"]*)"`)
	reLegend    = regexp.MustCompile(`<g class="legend-row" data-owner="([^"]*)"`)
	reTotal     = regexp.MustCompile(`<tr class="store total" data-store="([^"]*)" data-node="">(.*?)</tr>`)
	reNode      = regexp.MustCompile(`<tr class="node" data-name="([^"]*)"`)
	reCell      = regexp.MustCompile(`<td[^>]*>(.*?)</td>`)
)

func readPage(t *testing.T, dom string) pageView {
	t.Helper()
	var p pageView
	if m := reRefreshes.FindStringSubmatch(dom); m != nil {
		p.refreshes, _ = strconv.Atoi(m[1])
	}
	p.members = map[string]string{}
	for _, m := range reMember.FindAllStringSubmatch(dom, -1) {
		p.members[m[1]] = m[2]
	}
	for _, m := range reArc.FindAllStringSubmatch(dom, -1) {
		if !slices.Contains(p.owners, m[1]) {
			p.owners = append(p.owners, m[1])
		}
	}
	slices.Sort(p.owners)
	for _, m := range reLegend.FindAllStringSubmatch(dom, -1) {
		p.legend = append(p.legend, m[1])
	}
	p.stores = map[string][]string{}
	for _, m := range reTotal.FindAllStringSubmatch(dom, -1) {
		for _, c := range reCell.FindAllStringSubmatch(m[2], -1) {
			p.stores[m[1]] = append(p.stores[m[1]], c[1])
		}
	}
	for _, m := range reNode.FindAllStringSubmatch(dom, -1) {
		p.nodes = append(p.nodes, m[1])
	}
	return p
}

// view fetches an agent's /v1/cluster: the members' statuses, the ring's
// owners and the nodes that answered.
func view(a *agent) (members map[string]string, owners []string, nodes int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.http+"/v1/cluster", nil)
	if err != nil {
		return nil, nil, 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, nil, 0, fmt.Errorf("GET /v1/cluster: %d %s %v", res.StatusCode, body, err)
	}
	var v struct {
		Members []struct{ Name, Status string }
		Ring    struct{ Owners []string }
		Nodes   []struct{ Node, Error string }
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, nil, 0, err
	}
	members = map[string]string{}
	for _, m := range v.Members {
		members[m.Name] = m.Status
	}
	for _, o := range v.Ring.Owners {
		if !slices.Contains(owners, o) {
			owners = append(owners, o)
		}
	}
	slices.Sort(owners)
	for _, n := range v.Nodes {
		if n.Error == "" {
			nodes++
		}
	}
	return members, owners, nodes, nil
}

// TestStatusPageInChromium loads the status page of a 3-node cluster in
// headless Chromium: it shows the three members alive, the stores' figures
// and the ring; after one node is SIGKILLed it shows that node failed and
// the ring without it. The last load is saved as a screenshot (statusShot).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	agents := startAgents(t, 3, `
sink "file" "out" { path = "{dir}/out.jsonl" }
counter "pageviews" {
  sink     = "out"
  interval = "1h"
}
buffer "events" {
  sink     = "out"
  interval = "1h"
}`)
	waitMembers(t, agents)
	waitSameRing(t, agents) // no hand-off flush takes keys while the page counts them
	for i := range 30 {
		hoard(t, "incr", "pageviews", fmt.Sprintf("/page/%d", i), "1", "--rpc", agents[i%3].rpc)
	}
	for i := range 9 {
		hoard(t, "insert", "events", fmt.Sprintf("u%d", i%3), fmt.Sprintf("event-%d", i), "--rpc", agents[i%3].rpc)
	}
	n1 := agents[0]
	waitFor(t, 30*time.Second, "n1's view to hold three alive members answering", func() error {
		ms, owners, nodes, err := view(n1)
		if err != nil {
			return err
		}
		if len(ms) != 3 || ms["n1"] != "alive" || ms["n2"] != "alive" || ms["n3"] != "alive" || len(owners) != 3 || nodes != 3 {
			return fmt.Errorf("members %v, ring owners %v, %d nodes answered", ms, owners, nodes)
		}
		return nil
	})

	url := "http://" + n1.http + "/"
	p := readPage(t, headless(t, bin, url, ""))
	t.Logf("before the kill: %+v", p)
	if p.refreshes < 1 {
		t.Errorf("the page's script did not refresh it (data-refreshes=%d)", p.refreshes)
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		if p.members[name] != "alive" {
			t.Errorf("member %s shown %q, want alive (members %v)", name, p.members[name], p.members)
		}
	}
	if want := []string{"n1", "n2", "n3"}; !slices.Equal(p.owners, want) || !slices.Equal(p.legend, want) {
		t.Errorf("ring drawn with owners %v, legend %v; want %v", p.owners, p.legend, want)
	}
	if len(p.nodes) != 3 {
		t.Errorf("nodes %v, want 3", p.nodes)
	}
	// store, node, kind, keys, values, ...
	if pv := p.stores["pageviews"]; len(pv) < 5 || pv[2] != "counter" || pv[3] != "30" || pv[4] != "30" {
		t.Errorf("pageviews totals %q, want counter, 30 keys, 30 increments", pv)
	}
	if ev := p.stores["events"]; len(ev) < 5 || ev[2] != "buffer" || ev[3] != "3" || ev[4] != "9" {
		t.Errorf("events totals %q, want buffer, 3 keys, 9 values", ev)
	}

	if err := agents[2].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, a := range agents[:2] {
		waitFor(t, 30*time.Second, a.name+" to see n3 failed and out of its ring", func() error {
			ms, owners, _, err := view(a)
			if err != nil {
				return err
			}
			if ms["n3"] != "failed" || slices.Contains(owners, "n3") {
				return fmt.Errorf("members %v, ring owners %v", ms, owners)
			}
			return nil
		})
	}

	p = readPage(t, headless(t, bin, url, ""))
	t.Logf("after the kill: %+v", p)
	if p.refreshes < 1 {
		t.Errorf("the page's script did not refresh it (data-refreshes=%d)", p.refreshes)
	}
	if p.members["n1"] != "alive" || p.members["n2"] != "alive" || p.members["n3"] != "failed" {
		t.Errorf("members shown %v, want n1 and n2 alive, n3 failed", p.members)
	}
	if want := []string{"n1", "n2"}; !slices.Equal(p.owners, want) || !slices.Equal(p.legend, want) {
		t.Errorf("ring drawn with owners %v, legend %v; want %v", p.owners, p.legend, want)
	}
	if len(p.nodes) != 2 {
		t.Errorf("nodes %v, want n1 and n2", p.nodes)
	}

	shot, err := filepath.Abs(statusShot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	headless(t, bin, url, shot)
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot saved to %s", shot)
}
