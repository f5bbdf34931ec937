package loaders_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoard-dev/hoard/loaders"
)

// newHTTP returns a loader for cfg, failing the test on error.
func newHTTP(t *testing.T, cfg loaders.HTTPConfig) *loaders.HTTP {
	t.Helper()
	h, err := loaders.NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHTTPValue(t *testing.T) {
	values := map[string][]byte{
		"text":   []byte("hello, wörld"),
		"binary": {0x00, 0xff, 0xfe, 0x80, 0x00, '\n', 0x7f},
		"empty":  {},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s, want GET", r.Method)
		}
		v, ok := values[strings.TrimPrefix(r.URL.Path, "/v/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(v)
	}))
	t.Cleanup(srv.Close)
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/v/{key}"})
	for key, want := range values {
		t.Run(key, func(t *testing.T) {
			res, err := h.Load(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Value, want) {
				t.Fatalf("value %q, want %q", res.Value, want)
			}
			if res.Extra != nil {
				t.Fatalf("extra %v, want nil", res.Extra)
			}
		})
	}
}

func TestHTTPKeyEscaping(t *testing.T) {
	// The server answers with the path segment after /users/, unescaped,
	// and fails the test if the key did not arrive as exactly one segment.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("id") {
			_, _ = w.Write([]byte(q.Get("id")))
			return
		}
		raw, ok := strings.CutPrefix(r.RequestURI, "/users/")
		if !ok || strings.ContainsAny(raw, "/?#") {
			t.Errorf("request URI %q: key is not one path segment", r.RequestURI)
		}
		key, err := url.PathUnescape(raw)
		if err != nil {
			t.Errorf("request URI %q: %v", r.RequestURI, err)
		}
		_, _ = w.Write([]byte(key))
	}))
	t.Cleanup(srv.Close)
	inPath := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/users/{key}"})
	inQuery := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/lookup?id={key}&x=1"})

	keys := map[string]string{
		"plain":    "u1",
		"spaces":   "john smith",
		"slashes":  "a/b//c/",
		"unicode":  "日本語-ü-🙂",
		"reserved": "?#%&=+;@:$,[]'\"",
		"dot":      ".",
		"dotdot":   "..",
		"percent":  "%2F%20",
		"control":  "tab\tnl\nnul\x00",
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			for _, h := range []*loaders.HTTP{inPath, inQuery} {
				res, err := h.Load(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				if string(res.Value) != key {
					t.Fatalf("server got key %q, want %q", res.Value, key)
				}
			}
		})
	}
}

func TestHTTPStatuses(t *testing.T) {
	long := strings.Repeat("x", 180) + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/k/missing":
			http.Error(w, "no such user", http.StatusNotFound)
		case "/k/broken":
			http.Error(w, "database on fire", http.StatusInternalServerError)
		case "/k/long":
			http.Error(w, long, http.StatusBadGateway)
		case "/k/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/k/teapot":
			w.WriteHeader(http.StatusTeapot)
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(srv.Close)
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/k/{key}"})
	ctx := context.Background()

	tests := []struct {
		key      string
		notFound bool
		contains []string
		absent   []string
	}{
		{key: "missing", notFound: true, contains: []string{srv.URL + "/k/missing"}},
		{key: "broken", contains: []string{"500 Internal Server Error", "database on fire", srv.URL + "/k/broken"}},
		{key: "long", contains: []string{"502", strings.Repeat("x", 180) + "0123456789ABCDEFGHIJ"}, absent: []string{"KLMN"}},
		{key: "nocontent", contains: []string{"204"}},
		{key: "teapot", contains: []string{"418"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := h.Load(ctx, tt.key)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, loaders.ErrNotFound); got != tt.notFound {
				t.Fatalf("errors.Is(%v, ErrNotFound) = %v, want %v", err, got, tt.notFound)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
		})
	}
	// The connection survives error statuses and the loader goes on.
	if res, err := h.Load(ctx, "fine"); err != nil || string(res.Value) != "ok" {
		t.Fatalf("after errors: %q, %v", res.Value, err)
	}
}

// hangingServer returns a server whose handler waits until its request is
// cancelled (or the test ends).
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

func TestHTTPTimeout(t *testing.T) {
	srv := hangingServer(t)
	const timeout = 300 * time.Millisecond
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/{key}", Timeout: timeout})
	start := time.Now()
	_, err := h.Load(context.Background(), "k")
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Fatalf("returned after %v, want about %v", elapsed, timeout)
	}
	if !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q does not name the URL", err)
	}
}

func TestHTTPContextCancel(t *testing.T) {
	srv := hangingServer(t)
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/{key}", Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.Load(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("returned after %v", elapsed)
	}

	// A context that is already done stops the load before it starts.
	_, err = h.Load(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: error %v, want one wrapping context.Canceled", err)
	}
}

func TestHTTPHeaders(t *testing.T) {
	type seen struct{ auth, trace, host string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("Authorization"), r.Header.Get("X-Trace-Id"), r.Host}
		_, _ = w.Write([]byte("v"))
	}))
	t.Cleanup(srv.Close)
	headers := map[string]string{"Authorization": "Bearer t0k3n", "x-trace-id": "abc", "Host": "users.internal"}
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/{key}", Headers: headers})
	headers["Authorization"] = "changed after NewHTTP"
	for range 2 { // every request carries them
		if _, err := h.Load(context.Background(), "k"); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != (seen{"Bearer t0k3n", "abc", "users.internal"}) {
			t.Fatalf("server saw %+v", s)
		}
	}
}

func TestHTTPMaxBodyBytes(t *testing.T) {
	const limit = 1024
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := limit
		if strings.HasPrefix(r.URL.Path, "/over") {
			n++
		}
		body := bytes.Repeat([]byte{'b'}, n)
		if strings.HasSuffix(r.URL.Path, "/chunked") {
			// No Content-Length: the limit must hold while reading.
			_, _ = w.Write(body[:10])
			w.(http.Flusher).Flush()
			body = body[10:]
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/at/{key}", "/at/chunked/{key}", "/over/{key}", "/over/chunked/{key}"} {
		t.Run(path, func(t *testing.T) {
			h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + path, MaxBodyBytes: limit})
			res, err := h.Load(context.Background(), "k")
			if strings.HasPrefix(path, "/at") {
				if err != nil || len(res.Value) != limit {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(res.Value), err, limit)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") {
				t.Fatalf("error %v, want one about MaxBodyBytes", err)
			}
		})
	}
}

func TestHTTPClientAndTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("secure " + r.URL.Path))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// The loader's own client does not trust the test certificate...
	own := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/{key}"})
	if _, err := own.Load(context.Background(), "k"); err == nil {
		t.Fatal("own client accepted an untrusted certificate")
	}
	// ...the one given in the config does.
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/{key}", Client: srv.Client()})
	res, err := h.Load(context.Background(), "k")
	if err != nil || string(res.Value) != "secure /k" {
		t.Fatalf("got %q, %v", res.Value, err)
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	h := newHTTP(t, loaders.HTTPConfig{URL: addr + "/{key}", Timeout: 2 * time.Second})
	_, err := h.Load(context.Background(), "k")
	if err == nil || errors.Is(err, loaders.ErrNotFound) {
		t.Fatalf("error %v, want a connection error", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the URL", err)
	}
}

func TestNewHTTPRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  loaders.HTTPConfig
		want string // in the error
	}{
		{"empty URL", loaders.HTTPConfig{}, "URL is required"},
		{"no key", loaders.HTTPConfig{URL: "http://example.com/users"}, "{key}"},
		{"misspelt key", loaders.HTTPConfig{URL: "http://example.com/users/{KEY}"}, "{key}"},
		{"ftp", loaders.HTTPConfig{URL: "ftp://example.com/{key}"}, "scheme"},
		{"no scheme", loaders.HTTPConfig{URL: "example.com/{key}"}, "scheme"},
		{"relative", loaders.HTTPConfig{URL: "/users/{key}"}, "scheme"},
		{"opaque", loaders.HTTPConfig{URL: "http:{key}"}, "host"},
		{"no host", loaders.HTTPConfig{URL: "http:///users/{key}"}, "host"},
		{"key in host", loaders.HTTPConfig{URL: "http://{key}.example.com/"}, "path or query"},
		{"key in user", loaders.HTTPConfig{URL: "http://{key}@example.com/"}, "path or query"},
		{"key in fragment", loaders.HTTPConfig{URL: "http://example.com/x#{key}"}, "path or query"},
		{"bad port", loaders.HTTPConfig{URL: "http://example.com:port/{key}"}, "invalid URL"},
		{"control character", loaders.HTTPConfig{URL: "http://example.com/\x7f/{key}"}, "invalid URL"},
		{"negative timeout", loaders.HTTPConfig{URL: "http://example.com/{key}", Timeout: -time.Second}, "Timeout"},
		{"negative max body", loaders.HTTPConfig{URL: "http://example.com/{key}", MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"bad header name", loaders.HTTPConfig{URL: "http://example.com/{key}", Headers: map[string]string{"Bad Header": "v"}}, "header"},
		{"empty header name", loaders.HTTPConfig{URL: "http://example.com/{key}", Headers: map[string]string{"": "v"}}, "header"},
		{"header injection", loaders.HTTPConfig{URL: "http://example.com/{key}", Headers: map[string]string{"X-A": "v\r\nX-B: w"}}, "header"},
		{"init url with key", loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: "http://example.com/all/{key}"}, "InitURL"},
		{"init url ftp", loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: "ftp://example.com/all"}, "scheme"},
		{"init url relative", loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: "/all"}, "scheme"},
		{"init url blank", loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: " "}, "InitURL"},
		{"init url no host", loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: "http:///all"}, "host"},
		{"init url bad port", loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: "http://example.com:port/all"}, "invalid URL"},
		{"negative max init", loaders.HTTPConfig{URL: "http://example.com/{key}", MaxInitBytes: -1}, "MaxInitBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := loaders.NewHTTP(tt.cfg)
			if err == nil {
				t.Fatalf("NewHTTP(%+v) = %v, want an error", tt.cfg, h)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	t.Run("password not in errors", func(t *testing.T) {
		for _, u := range []string{"ftp://user:s3cr3tpw@example.com/{key}", "http://user:s3cr3tpw@example.com:bad/{key}", "http://user:s3cr3tpw@example.com/x"} {
			_, err := loaders.NewHTTP(loaders.HTTPConfig{URL: u})
			if err == nil || strings.Contains(err.Error(), "s3cr3tpw") {
				t.Errorf("NewHTTP(%q): error %v", u, err)
			}
		}
		for _, u := range []string{"ftp://user:s3cr3tpw@example.com/all", "http://user:s3cr3tpw@example.com:bad/all", "http://user:s3cr3tpw@example.com/{key}"} {
			_, err := loaders.NewHTTP(loaders.HTTPConfig{URL: "http://example.com/{key}", InitURL: u})
			if err == nil || strings.Contains(err.Error(), "s3cr3tpw") {
				t.Errorf("NewHTTP with InitURL %q: error %v", u, err)
			}
		}
	})

	for _, u := range []string{
		"http://example.com/users/{key}",
		"https://example.com:8443/a/{key}/b?x=1",
		"http://127.0.0.1:9000/get?id={key}",
		"HTTP://example.com/{key}.json",
		"http://[::1]:80/{key}/{key}",
	} {
		if _, err := loaders.NewHTTP(loaders.HTTPConfig{URL: u}); err != nil {
			t.Errorf("NewHTTP(%q): %v", u, err)
		}
	}
}

// initOf returns l's Initializer, failing the test if it has none.
func initOf(t *testing.T, l loaders.Loader) loaders.Initializer {
	t.Helper()
	init, ok := l.(loaders.Initializer)
	if !ok {
		t.Fatalf("loader %T is not an Initializer", l)
	}
	return init
}

func TestHTTPInit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0k3n" {
			t.Errorf("%s without the configured headers", r.URL)
		}
		switch r.URL.Path {
		case "/all":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"u1": "Ada", "a b/c": "wörld \u2713", "empty": "", "json": "{\"x\": 1}", "u1": "Ada L."}`))
		default:
			_, _ = w.Write([]byte("loaded " + strings.TrimPrefix(r.URL.Path, "/v/")))
		}
	}))
	t.Cleanup(srv.Close)
	h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/v/{key}", InitURL: srv.URL + "/all",
		Headers: map[string]string{"Authorization": "Bearer t0k3n"}})
	l := h.Loader()
	got, err := initOf(t, l).Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"u1": "Ada L.", "a b/c": "wörld ✓", "empty": "", "json": `{"x": 1}`}
	if len(got) != len(want) {
		t.Fatalf("Init = %q, want %q", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || string(g) != v {
			t.Fatalf("Init = %q, want %q", got, want)
		}
	}
	// The seeding loader still loads.
	res, err := l.Load(context.Background(), "u2")
	if err != nil || string(res.Value) != "loaded u2" {
		t.Fatalf("Load = %q, %v", res.Value, err)
	}
}

func TestHTTPWithoutInitURLDoesNotSeed(t *testing.T) {
	h := newHTTP(t, loaders.HTTPConfig{URL: "http://127.0.0.1:9/{key}"})
	if l, ok := h.Loader().(loaders.Initializer); ok {
		t.Fatalf("loader %T without an InitURL is an Initializer", l)
	}
	if h.Loader() != loaders.Loader(h) {
		t.Fatalf("Loader() = %T, want the HTTP loader itself", h.Loader())
	}
}

func TestHTTPInitErrors(t *testing.T) {
	bodies := map[string]string{
		"/array":  `["a", "b"]`,
		"/null":   `null`,
		"/number": `{"a": "1", "b": 2}`,
		"/object": `{"a": {"v": 1}}`,
		"/nulled": `{"a": null}`,
		"/broken": `{"a": "1"`,
		"/big":    `{"a": "` + strings.Repeat("x", 100) + `"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fails":
			http.Error(w, "database on fire", http.StatusInternalServerError)
		case "/hangs":
			<-r.Context().Done()
		default:
			body, ok := bodies[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(body))
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		path string
		want []string // in the error
	}{
		{"/fails", []string{"500", "database on fire", srv.URL + "/fails", "init"}},
		{"/missing", []string{"404", srv.URL + "/missing"}},
		{"/array", []string{"JSON object of strings"}},
		{"/null", []string{"null"}},
		{"/number", []string{`"b"`, "2", "want a string"}},
		{"/object", []string{`"a"`, "want a string"}},
		{"/nulled", []string{`"a"`, "null", "want a string"}},
		{"/broken", []string{"JSON object of strings"}},
		{"/big", []string{"MaxInitBytes (64)"}},
		{"/hangs", []string{"deadline exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := newHTTP(t, loaders.HTTPConfig{URL: srv.URL + "/{key}", InitURL: srv.URL + tt.path,
				MaxInitBytes: 64, Timeout: 300 * time.Millisecond})
			got, err := initOf(t, h.Loader()).Init(context.Background())
			if err == nil {
				t.Fatalf("Init = %q, want an error", got)
			}
			if errors.Is(err, loaders.ErrStopStart) {
				t.Fatalf("error %v wraps ErrStopStart", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}
