package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/statuspage"
	"github.com/hoard-dev/hoard/node"
	"github.com/hoard-dev/hoard/testcluster"
)

// httpGet fetches url with an optional bearer token and returns the status
// code and body.
func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

func clusterView(t *testing.T, n *node.Node) statuspage.View {
	t.Helper()
	code, body := httpGet(t, "http://"+n.HTTPAddr()+"/v1/cluster", "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/cluster: %d %s", code, body)
	}
	var v statuspage.View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /v1/cluster: %v in %s", err, body)
	}
	return v
}

// TestStatusPageFollowsTheCluster: the page and its view show every member
// alive with its share of the ring and every node's store figures; once a
// node is killed they show it failed and the ring without it.
func TestStatusPageFollowsTheCluster(t *testing.T) {
	c, _ := counterCluster(t, 3, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 12 {
		if err := c.Node(i%3).Incr(ctx, "pageviews", fmt.Sprintf("/page/%d", i), 2); err != nil {
			t.Fatal(err)
		}
	}
	a := c.Node(0)

	v := clusterView(t, a)
	if v.Node.Name != "n1" || len(v.Members) != 3 || len(v.Ring.Owners) != a.Ring().Partitions() {
		t.Fatalf("view: node %+v, %d members, %d partitions", v.Node, len(v.Members), len(v.Ring.Owners))
	}
	total := 0
	for _, m := range v.Members {
		if m.Status != "alive" || m.Partitions == 0 {
			t.Errorf("member %+v, want alive with partitions", m)
		}
		total += m.Partitions
	}
	if total != len(v.Ring.Owners) {
		t.Errorf("members own %d partitions, ring has %d", total, len(v.Ring.Owners))
	}
	if len(v.Nodes) != 3 || len(v.Stores) != 1 || v.Stores[0].Keys != 12 || v.Stores[0].Values != 12 {
		t.Errorf("nodes %+v, stores %+v; want 3 nodes, pageviews with 12 keys and 12 increments held", v.Nodes, v.Stores)
	}
	code, page := httpGet(t, "http://"+a.HTTPAddr()+"/", "")
	for _, want := range []string{`data-name="n3" data-status="alive"`, `data-owner="n3"`, `data-store="pageviews"`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("GET /: %d, page lacks %q", code, want)
		}
	}
	if code, _ := httpGet(t, "http://"+a.HTTPAddr()+"/nothing", ""); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", code)
	}

	c.Kill(2)
	testcluster.WaitFor(t, 20*time.Second, "n1's view to show n3 failed and out of the ring", func() error {
		v = clusterView(t, a)
		status := map[string]string{}
		for _, m := range v.Members {
			status[m.Name] = m.Status
		}
		if status["n3"] != "failed" {
			return fmt.Errorf("members %v", status)
		}
		if slices.Contains(v.Ring.Owners, "n3") || strings.Contains(v.Ring.SVG, `data-owner="n3"`) {
			return fmt.Errorf("n3 still in ring version %d", v.Ring.Version)
		}
		return nil
	})
	if len(v.Nodes) != 2 {
		t.Errorf("nodes %+v, want n1 and n2", v.Nodes)
	}
}

// TestStatusPageNeedsAReadToken: with tokens on, the page and its view are
// refused without a token and served with a read token.
func TestStatusPageNeedsAReadToken(t *testing.T) {
	c := testcluster.New(t, 1, &testcluster.Options{Configure: func(_ int, cfg *node.Config) {
		cfg.EncryptKey = make([]byte, 32) // tokens need gossip encryption
		cfg.Tokens = []node.Token{{Name: "dash", Secret: readSecret, Role: node.RoleRead}}
	}})
	base := "http://" + c.Node(0).HTTPAddr()
	for _, path := range []string{"/", "/v1/cluster"} {
		if code, _ := httpGet(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, code)
		}
		if code, body := httpGet(t, base+path, readSecret); code != http.StatusOK {
			t.Errorf("GET %s with a read token: %d %s", path, code, body)
		}
	}
}
