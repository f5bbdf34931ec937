package statuspage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/internal/proto"
)

var flushed = time.Date(2026, 11, 30, 12, 0, 5, 0, time.UTC)

// sample is n1's view of a cluster where n3 has failed and left the ring.
func sample() View {
	return View{
		Node: proto.Status{Name: "n1", Cluster: "prod", Version: "1.2.3", State: "alive", RingVersion: 7, Ready: true},
		Members: []proto.Member{
			{Name: "n3", Status: "failed", State: "alive", HTTPAddr: "127.0.0.1:9003"},
			{Name: "n1", Status: "alive", State: "alive", HTTPAddr: "127.0.0.1:9001"},
			{Name: "n2", Status: "alive", State: "leaving", HTTPAddr: "127.0.0.1:9002"},
		},
		Ring: Ring{Version: 7, Owners: []string{"n1", "n1", "n2", "n1"}},
		Nodes: []proto.NodeInfo{
			{Node: "n1", Unflushed: 3, WALBytes: 2048, ReplicaOps: 4, Stores: []proto.StoreInfo{
				{Node: "n1", Store: "pageviews", Kind: "counter", Keys: 2, Values: 10, Flushes: 1, LastFlush: flushed},
				{Node: "n1", Store: "events", Kind: "buffer", Keys: 1, Values: 1, Bytes: 100, DeadLettered: 2},
			}},
			{Node: "n2", Unflushed: 1, Stores: []proto.StoreInfo{
				{Node: "n2", Store: "pageviews", Kind: "counter", Keys: 3, Values: 5, Flushes: 2, Failures: 1, LastFlush: flushed.Add(-time.Minute)},
			}},
		},
		Time: flushed,
	}
}

func TestComplete(t *testing.T) {
	v := Complete(sample())
	var names []string
	parts := map[string]int{}
	for _, m := range v.Members {
		names = append(names, m.Name)
		parts[m.Name] = m.Partitions
	}
	if strings.Join(names, ",") != "n1,n2,n3" {
		t.Errorf("members in order %v, want by name", names)
	}
	if parts["n1"] != 3 || parts["n2"] != 1 || parts["n3"] != 0 {
		t.Errorf("partitions %v, want n1:3 n2:1 n3:0", parts)
	}
	want := []proto.StoreInfo{
		{Store: "events", Kind: "buffer", Keys: 1, Values: 1, Bytes: 100, DeadLettered: 2},
		{Store: "pageviews", Kind: "counter", Keys: 5, Values: 15, Flushes: 3, Failures: 1, LastFlush: flushed},
	}
	if len(v.Stores) != len(want) {
		t.Fatalf("stores %+v, want %+v", v.Stores, want)
	}
	for i := range want {
		if v.Stores[i] != want[i] {
			t.Errorf("store %d: %+v, want %+v", i, v.Stores[i], want[i])
		}
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		if v.Colours[name] != Colour(name) {
			t.Errorf("colour of %s: %q, want %q", name, v.Colours[name], Colour(name))
		}
	}
	if v.Ring.SVG != RingSVG(v.Ring.Owners) {
		t.Error("the view's SVG is not RingSVG of its owners")
	}
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
	return w
}

func TestPageShowsView(t *testing.T) {
	w := get(t, Page(SourceFunc(func(context.Context) View { return sample() })), "/")
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	body := w.Body.String()
	for _, want := range []string{
		`data-name="n1" data-status="alive"`,
		`data-name="n3" data-status="failed"`,
		`<td class="status-failed">failed</td>`,
		`<td class="state-leaving">leaving</td>`,
		`<td class="num">3</td><td class="num">75.0%</td>`, // n1's partitions and share
		`<svg xmlns="http://www.w3.org/2000/svg" class="ring"`,
		`data-store="pageviews" data-node=""><td>pageviews</td><td>all</td><td>counter</td><td class="num">5</td><td class="num">15</td>`,
		`data-store="events" data-node="n1"`,
		`<td class="num">2</td><td>never</td>`, // events: dead-lettered, last flush
		`2026-11-30 12:00:05 UTC`,
		`<td class="num">2.0 KiB</td>`, // n1's WAL
		`style="background:` + Colour("n3") + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`const every = +2000 *;`).MatchString(body) {
		t.Errorf("page does not refresh every 2000ms")
	}
	// Nothing is loaded from elsewhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|url\(|@import`).FindString(body); m != "" {
		t.Errorf("page refers to an outside asset: %q", m)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestPageEscapesNames(t *testing.T) {
	v := sample()
	evil := `<img src=x onerror=alert(1)>`
	v.Members = append(v.Members, proto.Member{Name: evil, Status: "alive"})
	v.Ring.Owners[0] = evil
	v.Nodes[0].Error = evil
	v.Node.Cluster = evil
	w := get(t, Page(SourceFunc(func(context.Context) View { return v })), "/")
	if strings.Contains(w.Body.String(), "<img") {
		t.Errorf("unescaped name in the page")
	}
}

func TestJSONIsCompleteView(t *testing.T) {
	w := get(t, JSON(SourceFunc(func(context.Context) View { return sample() })), "/v1/cluster")
	var got View
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := Complete(sample())
	if got.Ring.SVG != want.Ring.SVG || len(got.Stores) != 2 || got.Members[2].Status != "failed" || got.Colours["n2"] != Colour("n2") {
		t.Errorf("JSON view %+v, want %+v", got, want)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}} {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatBytes(tc.n); got != tc.want {
				t.Errorf("formatBytes(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
	if got := formatTime(time.Time{}); got != "never" {
		t.Errorf("formatTime(zero) = %q", got)
	}
}
