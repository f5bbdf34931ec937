package statuspage

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"
)

// Refresh is how often the page's script polls the view.
const Refresh = 2 * time.Second

// Source gives the page the view to show. It is called once per request
// with the request's context and must honour its deadline.
type Source interface {
	View(ctx context.Context) View
}

// SourceFunc adapts a function to a [Source].
type SourceFunc func(ctx context.Context) View

// View calls f(ctx).
func (f SourceFunc) View(ctx context.Context) View { return f(ctx) }

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"colour": func(name string) template.CSS { return template.CSS(Colour(name)) },
	"svg":    func(s string) template.HTML { return template.HTML(s) }, // RingSVG escapes what it draws
	"share": func(p, n int) string {
		if n == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(p)/float64(n))
	},
	"bytes": formatBytes,
	"ts":    formatTime,
}).Parse(pageHTML))

// formatBytes writes n bytes in binary units, as the page's script does.
func formatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// formatTime writes t in UTC to the second, or "never" for the zero time,
// as the page's script does.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// Render writes the page showing v, [Complete]d, to w. It returns the
// template's or w's error.
func Render(w io.Writer, v View) error {
	return page.Execute(w, struct {
		View
		RefreshMillis int64
	}{Complete(v), Refresh.Milliseconds()})
}

// Page serves the status page: src's view, drawn in full, with a script
// that redraws it from the JSON at "v1/cluster" (relative to the page)
// every [Refresh]. The page loads nothing else.
func Page(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if err := Render(&b, src.View(r.Context())); err != nil {
			http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
		_, _ = w.Write(b.Bytes())
	})
}

// JSON serves src's view, [Complete]d, as JSON: what the page polls.
func JSON(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(Complete(src.View(r.Context())))
	})
}
