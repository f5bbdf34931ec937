package statuspage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/hoard-dev/hoard/internal/proto"
	"github.com/hoard-dev/hoard/internal/statuspage"
)

func ExampleRingSVG() {
	// Six partitions: n1 owns 0-1 and 5, n2 owns 2-4.
	svg := statuspage.RingSVG([]string{"n1", "n1", "n2", "n2", "n2", "n1"})
	fmt.Println(strings.Count(svg, `<path class="arc"`), "arcs")
	fmt.Println(strings.Contains(svg, `<title>n2: partitions 2–4</title>`))
	fmt.Println(strings.Contains(svg, `stroke="`+statuspage.Colour("n2")+`"`))
	// Output:
	// 3 arcs
	// true
	// true
}

func ExamplePage() {
	src := statuspage.SourceFunc(func(context.Context) statuspage.View {
		return statuspage.View{
			Node:    proto.Status{Name: "n1", Cluster: "prod"},
			Members: []proto.Member{{Name: "n1", Status: "alive", State: "alive"}},
			Ring:    statuspage.Ring{Version: 1, Owners: []string{"n1", "n1"}},
		}
	})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", statuspage.Page(src))
	mux.Handle("GET /v1/cluster", statuspage.JSON(src))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `data-name="n1" data-status="alive"`))
	// Output: 200 true
}
