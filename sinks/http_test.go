package sinks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hoard-dev/hoard/sinks"
)

func TestHTTPHeaders(t *testing.T) {
	rec := newRecorder(t)
	u := strings.Replace(rec.srv.URL, "http://", "http://user:secret@", 1) + "/ingest?x=1"
	h := newHTTPSink(t, sinks.HTTPConfig{URL: u, Headers: map[string]string{
		"Authorization": "Bearer tok",
		"x-trace":       "a b",
		"Host":          "sink.example",
	}})
	if err := h.Flush(context.Background(), httpCounters); err != nil {
		t.Fatal(err)
	}
	r := rec.only(t)
	want := map[string]string{
		"Idempotency-Key": httpCounters.ID,
		"Content-Type":    "application/json",
		"Authorization":   "Bearer tok",
		"X-Trace":         "a b",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.method != http.MethodPost || r.path != "/ingest" || r.host != "sink.example" {
		t.Errorf("got %s %s (Host %s), want POST /ingest (Host sink.example)", r.method, r.path, r.host)
	}
	if got, want := r.header.Get("Content-Length"), strconv.Itoa(len(r.body)); got != want {
		t.Errorf("Content-Length %q, want %s", got, want)
	}

	// The URL's user and password are sent as basic auth but kept out of
	// errors.
	hb := newHTTPSink(t, sinks.HTTPConfig{URL: u})
	rec.answer(http.StatusBadRequest, nil, "nope")
	err := hb.Flush(context.Background(), httpBuffers)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v: want one without the password", err)
	}
	if user, pass, ok := (&http.Request{Header: rec.requests()[1].header}).BasicAuth(); !ok || user != "user" || pass != "secret" {
		t.Fatalf("basic auth %q %q %v", user, pass, ok)
	}
	// Retries carry the same key.
	rec.answer(http.StatusOK, nil, "")
	if err := hb.Flush(context.Background(), httpBuffers); err != nil {
		t.Fatal(err)
	}
	if got := rec.requests()[2].header.Get("Idempotency-Key"); got != httpBuffers.ID {
		t.Fatalf("retry Idempotency-Key %q, want %q", got, httpBuffers.ID)
	}
}

func TestHTTPBody(t *testing.T) {
	tests := []struct {
		name  string
		batch sinks.Batch
		want  string
	}{
		{"counter", httpCounters, `{"batch":"n1.ab.1","store":"pageviews","kind":"counter","node":"n1",
			"time":"2026-11-21T12:00:00.000000123Z",
			"counts":[{"key":"/home","count":42},{"key":"/neg","count":-3}]}`},
		{"buffer", httpBuffers, `{"batch":"n1.ab.2","store":"events","kind":"buffer","node":"n1",
			"time":"2026-11-21T12:00:00.000000123Z",
			"values":[{"key":"u1","values":["a","wörld <&>"]},
			          {"key":"bin","values_b64":["/wA=","b2s="]},
			          {"key":"none","values":[]}]}`},
		{"local time", sinks.Batch{ID: "i", Store: "s", Kind: sinks.KindCounter, Node: "n",
			Time: when.In(time.FixedZone("X", 3600)), Counts: []sinks.Count{{Key: "k", Count: 1}}},
			`{"batch":"i","store":"s","kind":"counter","node":"n","time":"2026-11-21T12:00:00.000000123Z",
			"counts":[{"key":"k","count":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			h := newHTTPSink(t, sinks.HTTPConfig{URL: rec.srv.URL})
			if err := h.Flush(context.Background(), tt.batch); err != nil {
				t.Fatal(err)
			}
			body := rec.only(t).body
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("body\n got %s\nwant %s", body, tt.want)
			}
			if bytes.Contains(body, []byte(`\u003c`)) {
				t.Errorf("body escapes HTML: %s", body)
			}
		})
	}
}

func TestHTTPEmptyBatchSendsNothing(t *testing.T) {
	rec := newRecorder(t)
	h := newHTTPSink(t, sinks.HTTPConfig{URL: rec.srv.URL})
	if err := h.Flush(context.Background(), sinks.Batch{ID: "e", Store: "s", Kind: sinks.KindBuffer}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("%d requests for an empty batch", n)
	}
}

func TestHTTPStatus(t *testing.T) {
	rec := newRecorder(t)
	logs, logger := newTestLog(t)
	h := newHTTPSink(t, sinks.HTTPConfig{URL: rec.srv.URL, Logger: logger})
	future := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }

	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		ok        bool
		permanent bool
		after     time.Duration // retryable only; -1: no *RetryAfterError
		afterMax  time.Duration // if set, after is a minimum
		contains  []string
	}{
		{name: "200", status: 200, body: "thanks", ok: true},
		{name: "201", status: 201, ok: true},
		{name: "204", status: 204, ok: true},
		{name: "503 Retry-After seconds", status: 503, header: map[string]string{"Retry-After": "2"},
			body: "busy", after: 2 * time.Second, contains: []string{"503", "busy"}},
		{name: "429 Retry-After date", status: 429, header: map[string]string{"Retry-After": future(3 * time.Second)},
			after: time.Second, afterMax: 4 * time.Second, contains: []string{"429"}},
		{name: "429 Retry-After date relative to Date", status: 429, header: map[string]string{
			"Date":        "Sat, 21 Nov 2026 12:00:00 GMT",
			"Retry-After": "Sat, 21 Nov 2026 12:00:07 GMT"}, after: 7 * time.Second},
		{name: "503 Retry-After date in the past", status: 503, header: map[string]string{
			"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, after: 0},
		{name: "503 Retry-After capped", status: 503, header: map[string]string{"Retry-After": "86400"}, after: 5 * time.Minute},
		{name: "503 Retry-After overflow", status: 503, header: map[string]string{"Retry-After": "99999999999999999999999"}, after: 5 * time.Minute},
		{name: "503 Retry-After date capped", status: 503, header: map[string]string{"Retry-After": future(time.Hour)}, after: 5 * time.Minute},
		{name: "503 Retry-After garbage", status: 503, header: map[string]string{"Retry-After": "soon"}, after: -1},
		{name: "503 Retry-After negative", status: 503, header: map[string]string{"Retry-After": "-5"}, after: -1},
		{name: "503 Retry-After fraction", status: 503, header: map[string]string{"Retry-After": "1.5"}, after: -1},
		{name: "500 without Retry-After", status: 500, body: "oops", after: -1, contains: []string{"500 Internal Server Error", "oops"}},
		{name: "502", status: 502, after: -1, contains: []string{"502"}},
		{name: "400", status: 400, body: "bad key \"x\"", permanent: true,
			contains: []string{"400 Bad Request", `bad key \"x\"`}},
		{name: "404", status: 404, body: "no such endpoint", permanent: true, contains: []string{"404", "no such endpoint"}},
		{name: "413", status: 413, permanent: true, contains: []string{"413"}},
		{name: "400 with Retry-After", status: 400, header: map[string]string{"Retry-After": "2"}, permanent: true},
		{name: "304 not followed", status: 304, permanent: true, contains: []string{"304"}},
		{name: "long body quoted in part", status: 422, body: strings.Repeat("x", 1024) + "TAIL", permanent: true,
			contains: []string{strings.Repeat("x", 1024)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.answer(tt.status, tt.header, tt.body)
			err := h.Flush(context.Background(), httpCounters)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got success")
			}
			t.Log(err)
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "TAIL") {
				t.Errorf("error quotes more than 1 KiB of the body")
			}
			after, isRA := sinks.RetryAfter(err)
			if tt.permanent {
				if !errors.Is(err, sinks.ErrPermanent) || isRA {
					t.Fatalf("got %v (retry after %v %v), want permanent", err, after, isRA)
				}
				if tt.body != "" && !strings.Contains(logs.String(), strings.ReplaceAll(tt.body[:min(len(tt.body), 16)], `"`, `\"`)) {
					t.Errorf("body %q not logged:\n%s", tt.body, logs.String())
				}
				return
			}
			if errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("got permanent %v, want retryable", err)
			}
			var ra *sinks.RetryAfterError
			switch {
			case tt.after < 0:
				if errors.As(err, &ra) {
					t.Fatalf("got *RetryAfterError %v after %v, want a plain error", err, ra.After)
				}
			case !errors.As(err, &ra):
				t.Fatalf("got %T %v, want *RetryAfterError", err, err)
			case tt.afterMax > 0 && (ra.After < tt.after || ra.After > tt.afterMax):
				t.Fatalf("After %v, want %v..%v", ra.After, tt.after, tt.afterMax)
			case tt.afterMax == 0 && ra.After != tt.after:
				t.Fatalf("After %v, want %v", ra.After, tt.after)
			}
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	rec := newRecorder(t)
	mux := http.NewServeMux()
	mux.Handle("/moved-307", http.RedirectHandler(rec.srv.URL+"/target", http.StatusTemporaryRedirect))
	mux.Handle("/moved-308", http.RedirectHandler(rec.srv.URL+"/target", http.StatusPermanentRedirect))
	mux.Handle("/found-302", http.RedirectHandler(rec.srv.URL+"/target", http.StatusFound))
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)

	tests := []struct {
		name      string
		path      string
		client    *http.Client
		permanent bool
		arrived   bool // the target got the batch
	}{
		{name: "307 resends the POST", path: "/moved-307", arrived: true},
		{name: "308 resends the POST", path: "/moved-308", arrived: true},
		{name: "302 not followed", path: "/found-302", permanent: true},
		{name: "302 followed as GET by a given client", path: "/found-302", client: &http.Client{}, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.requests())
			h := newHTTPSink(t, sinks.HTTPConfig{URL: front.URL + tt.path, Client: tt.client})
			err := h.Flush(context.Background(), httpCounters)
			if got := errors.Is(err, sinks.ErrPermanent); got != tt.permanent || (err == nil) != !tt.permanent {
				t.Fatalf("got %v, want permanent %v", err, tt.permanent)
			}
			reqs := rec.requests()[before:]
			posted := len(reqs) == 1 && reqs[0].method == http.MethodPost && len(reqs[0].body) > 0 &&
				reqs[0].header.Get("Idempotency-Key") == httpCounters.ID
			if posted != tt.arrived {
				t.Fatalf("target received %d requests (%+v), want the batch: %v", len(reqs), reqs, tt.arrived)
			}
			if tt.client != nil {
				tt.client.CloseIdleConnections()
			}
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	srv, _ := hangingServer(t)
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     time.Duration // 0: no deadline
	}{
		{name: "sink timeout", timeout: 200 * time.Millisecond},
		{name: "context deadline", timeout: 0, ctx: 200 * time.Millisecond},
		{name: "no sink timeout, context deadline", timeout: -1, ctx: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHTTPSink(t, sinks.HTTPConfig{URL: srv.URL, Timeout: tt.timeout})
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			start := time.Now()
			err := h.Flush(ctx, httpBuffers)
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want a deadline error", err)
			}
			if errors.Is(err, sinks.ErrPermanent) {
				t.Fatalf("timeout is permanent: %v", err)
			}
			if _, ok := sinks.RetryAfter(err); ok {
				t.Fatalf("timeout asks for a wait: %v", err)
			}
			if elapsed < 150*time.Millisecond || elapsed > 3*time.Second {
				t.Fatalf("returned after %v, want about 200ms", elapsed)
			}
		})
	}
}

func TestHTTPContextCanceled(t *testing.T) {
	srv, arrived := hangingServer(t)
	h := newHTTPSink(t, sinks.HTTPConfig{URL: srv.URL})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	err := h.Flush(ctx, httpCounters)
	if !errors.Is(err, context.Canceled) || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("got %v, want a retryable context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("returned after %v", elapsed)
	}

	// Already canceled: nothing is sent.
	rec := newRecorder(t)
	h2 := newHTTPSink(t, sinks.HTTPConfig{URL: rec.srv.URL})
	if err := h2.Flush(ctx, httpCounters); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("%d requests with a canceled context", n)
	}
}

func TestHTTPTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there now
	h := newHTTPSink(t, sinks.HTTPConfig{URL: u})
	err := h.Flush(context.Background(), httpCounters)
	if err == nil || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if _, ok := sinks.RetryAfter(err); ok {
		t.Fatalf("transport error asks for a wait: %v", err)
	}
}

func TestHTTPClose(t *testing.T) {
	rec := newRecorder(t)
	h := newHTTPSink(t, sinks.HTTPConfig{URL: rec.srv.URL})
	if err := h.Flush(context.Background(), httpCounters); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Flush(context.Background(), httpCounters); !errors.Is(err, os.ErrClosed) || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("flush after close: got %v, want os.ErrClosed", err)
	}
}

func TestHTTPNoGoroutineLeak(t *testing.T) {
	before := goleak.IgnoreCurrent()
	func() {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch hits.Add(1) % 4 {
			case 0:
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, strings.Repeat("ok", 100<<10)) // more than the sink drains
			case 1:
				http.Error(w, "busy", http.StatusServiceUnavailable)
			case 2:
				http.Error(w, "bad", http.StatusBadRequest)
			case 3:
				w.WriteHeader(http.StatusNoContent)
			}
		}))
		defer srv.Close()
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer hang.Close()
		defer close(release) // runs first
		h, err := sinks.NewHTTP(sinks.HTTPConfig{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			_ = h.Flush(context.Background(), httpBuffers)
		}
		slow, err := sinks.NewHTTP(sinks.HTTPConfig{URL: hang.URL, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_ = slow.Flush(context.Background(), httpBuffers)
		_ = h.Close()
		_ = slow.Close()
	}()
	goleak.VerifyNone(t, before)
}

func TestNewHTTPValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     sinks.HTTPConfig
		wantErr string // "" means valid
	}{
		{name: "http", cfg: sinks.HTTPConfig{URL: "http://127.0.0.1:9000/ingest"}},
		{name: "https with query", cfg: sinks.HTTPConfig{URL: "https://sink.example/ingest?token=x"}},
		{name: "headers", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{
			"Authorization": "Bearer x", "X-Weird_Name!": "v\t1", "Host": "other"}}},
		{name: "negative timeout", cfg: sinks.HTTPConfig{URL: "http://h/", Timeout: -1}},
		{name: "empty URL", cfg: sinks.HTTPConfig{}, wantErr: "URL is required"},
		{name: "no scheme", cfg: sinks.HTTPConfig{URL: "sink.example/ingest"}, wantErr: "scheme"},
		{name: "ftp", cfg: sinks.HTTPConfig{URL: "ftp://sink.example/"}, wantErr: "scheme"},
		{name: "no host", cfg: sinks.HTTPConfig{URL: "http:///ingest"}, wantErr: "host"},
		{name: "opaque", cfg: sinks.HTTPConfig{URL: "http:sink.example"}, wantErr: "host"},
		{name: "unparsable", cfg: sinks.HTTPConfig{URL: "http://[::1/"}, wantErr: "invalid URL"},
		{name: "control character", cfg: sinks.HTTPConfig{URL: "http://h/\x7f"}, wantErr: "invalid URL"},
		{name: "header name with space", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"X Y": "v"}}, wantErr: "header name"},
		{name: "empty header name", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"": "v"}}, wantErr: "header name"},
		{name: "header name with colon", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"X:": "v"}}, wantErr: "header name"},
		{name: "non-ASCII header name", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"X-Ü": "v"}}, wantErr: "header name"},
		{name: "CRLF in value", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"X-A": "v\r\nX-B: w"}}, wantErr: "CR, LF or NUL"},
		{name: "LF in value", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"X-A": "v\n"}}, wantErr: "CR, LF or NUL"},
		{name: "NUL in value", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"X-A": "v\x00"}}, wantErr: "CR, LF or NUL"},
		{name: "Content-Type", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"content-type": "text/plain"}}, wantErr: "set by the sink"},
		{name: "Idempotency-Key", cfg: sinks.HTTPConfig{URL: "http://h/", Headers: map[string]string{"Idempotency-Key": "k"}}, wantErr: "set by the sink"},
		{name: "password redacted", cfg: sinks.HTTPConfig{URL: "http://u:hunter2@h/", Headers: map[string]string{"X Y": "v"}}, wantErr: "header name"},
		{name: "password redacted when unparsable", cfg: sinks.HTTPConfig{URL: "http://u:hunter2@[::1/"}, wantErr: "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := sinks.NewHTTP(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				_ = h.Close()
				return
			}
			if err == nil {
				t.Fatalf("accepted %+v", tt.cfg)
			}
			if h != nil {
				t.Fatalf("returned a sink with error %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "sinks: http") {
				t.Fatalf("error %q, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}
