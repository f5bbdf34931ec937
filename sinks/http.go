package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hoard-dev/hoard/internal/endpoint"

	"golang.org/x/net/http/httpguts"

	"github.com/hashicorp/go-hclog"
)

const (
	// DefaultHTTPTimeout bounds one HTTP sink request when
	// HTTPConfig.Timeout is 0.
	DefaultHTTPTimeout = 10 * time.Second

	// httpBodyQuote is how much of a refused batch's response body an
	// error quotes and the log shows.
	httpBodyQuote = 1 << 10
	// httpMaxRetryAfter caps the wait a Retry-After header can ask for.
	httpMaxRetryAfter = 5 * time.Minute
	// httpDrainBytes is how much of a response body is read before closing
	// it, so that the connection can be reused.
	httpDrainBytes = 64 << 10
)

// HTTPConfig configures an HTTP sink.
type HTTPConfig struct {
	// URL is the http or https URL each batch is POSTed to. A password in
	// it is sent as basic auth and redacted from errors and logs. Required.
	URL string
	// Headers are sent with every request (Authorization, ...). "Host"
	// sets the request's Host. Content-Type, Content-Length,
	// Transfer-Encoding and Idempotency-Key belong to the sink and are
	// refused.
	Headers map[string]string
	// Timeout bounds one request: connecting, sending the batch and
	// reading the response. 0 means DefaultHTTPTimeout (10s); negative
	// means no bound of the sink's own. The deadline of the context passed
	// to Flush applies as well.
	Timeout time.Duration
	// Client sends the requests; its own Timeout, if any, applies too.
	// Whatever its redirect policy, a redirect that turned the POST into a
	// GET counts as a refusal. nil means a client of the sink's own, with
	// its own connection pool and http.DefaultTransport's settings, which
	// follows only 307 and 308 redirects (they resend the body).
	Client *http.Client
	// Logger receives the response body of each refused batch (first
	// 1 KiB). nil discards.
	Logger hclog.Logger
}

// Validate reports whether c is usable: an absolute http or https URL with
// a host, well-formed Headers that leave the sink's own headers alone.
func (c *HTTPConfig) Validate() error {
	if c.URL == "" {
		return errors.New("sinks: http: URL is required")
	}
	u, err := endpoint.HTTPURL(c.URL)
	if err != nil {
		return fmt.Errorf("sinks: http %s: %w", endpoint.Name(c.URL, u), err)
	}
	for k, v := range c.Headers {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("sinks: http %s: invalid header name %q", u.Redacted(), k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("sinks: http %s: header %s: value contains CR, LF or NUL", u.Redacted(), k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type", "Content-Length", "Transfer-Encoding", "Idempotency-Key":
			return fmt.Errorf("sinks: http %s: header %s is set by the sink", u.Redacted(), k)
		}
	}
	return nil
}

// HTTP POSTs each batch as one JSON document to a URL:
//
//	{"batch":"n1.ab.7","store":"events","kind":"buffer","node":"n1","time":"2026-11-21T12:00:00.000000123Z",
//	 "values":[{"key":"u1","values":["a","b"]},{"key":"bin","values_b64":["/wA="]}]}
//
// A counter batch carries "counts":[{"key":"/home","count":42}] instead of
// "values". A key's values are strings when all of them are valid UTF-8,
// otherwise all of them go base64-encoded under "values_b64", as in the
// file sink. The request has the header Idempotency-Key: <batch ID>, which
// stays the same when the batch is retried or replayed, so the receiver
// can apply a batch at most once. HTTP is safe for concurrent use.
type HTTP struct {
	url     string // HTTPConfig.URL
	safeURL string // url without its password, for errors and logs
	header  http.Header
	host    string
	timeout time.Duration // <= 0: none
	client  *http.Client
	own     bool // client is the sink's: Close closes its idle connections
	logger  hclog.Logger
	closed  atomic.Bool
}

var _ Borrower = (*HTTP)(nil)

// BorrowsBatches marks the sink as a Borrower: it keeps none of a batch's slices.
func (*HTTP) BorrowsBatches() {}

// NewHTTP returns an HTTP sink, or the error of cfg.Validate.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &HTTP{
		url:     cfg.URL,
		safeURL: endpoint.URL(cfg.URL),
		header:  make(http.Header, len(cfg.Headers)+2),
		timeout: cfg.Timeout,
		client:  cfg.Client,
		logger:  cfg.Logger,
	}
	if h.timeout == 0 {
		h.timeout = DefaultHTTPTimeout
	}
	if h.logger == nil {
		h.logger = hclog.NewNullLogger()
	}
	for k, v := range cfg.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			h.host = v
			continue
		}
		h.header.Set(k, v)
	}
	h.header.Set("Content-Type", "application/json")
	if h.client == nil {
		var rt http.RoundTripper = http.DefaultTransport
		if t, ok := rt.(*http.Transport); ok {
			rt = t.Clone()
		}
		h.client = &http.Client{Transport: rt, CheckRedirect: keepPOST}
		h.own = true
	}
	return h, nil
}

// keepPOST is the redirect policy of the sink's own client: follow a
// redirect only if it resends the POST (307, 308), at most 10 times.
func keepPOST(req *http.Request, via []*http.Request) error {
	if req.Method != http.MethodPost {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// Flush POSTs b and reports how the receiver answered:
//   - 2xx: nil; the batch is delivered.
//   - 429 and 5xx: an error naming the status, a *RetryAfterError when the
//     response has a usable Retry-After header (delay-seconds or an
//     HTTP-date, capped at 5 minutes).
//   - any other status (4xx, a 3xx the client did not follow, a redirect
//     that dropped the body): an error wrapping ErrPermanent that names the
//     status and quotes the first 1 KiB of the body, which is also logged.
//   - a transport failure, the sink's Timeout or ctx running out: a plain
//     error (wrapping the context's error, if that is the cause).
//
// A batch without keys sends nothing. After Close, Flush returns an error
// wrapping os.ErrClosed.
func (h *HTTP) Flush(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sinks: http POST %s: %w", h.safeURL, err)
	}
	if h.closed.Load() {
		return fmt.Errorf("sinks: http POST %s: %w", h.safeURL, os.ErrClosed)
	}
	if b.Len() == 0 {
		return nil
	}
	var body bytes.Buffer
	if err := writeHTTPDoc(&body, &b); err != nil {
		return fmt.Errorf("sinks: http POST %s: encoding batch %s: %w", h.safeURL, b.ID, err)
	}
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body.Bytes()))
	if err != nil {
		return fmt.Errorf("sinks: http POST %s: %w", h.safeURL, err)
	}
	req.Header = h.header.Clone()
	req.Header.Set("Idempotency-Key", b.ID)
	if h.host != "" {
		req.Host = h.host
	}
	resp, err := h.client.Do(req)
	if h.own && h.closed.Load() {
		// Closed while the request was out: its connection must not stay
		// in the pool.
		defer h.client.CloseIdleConnections()
	}
	if err != nil {
		// A *url.Error: it names the method and the URL, without password,
		// and unwraps to the context's error on a timeout.
		return fmt.Errorf("sinks: http: %w", err)
	}
	defer resp.Body.Close()

	code := resp.StatusCode
	switch {
	case resp.Request != nil && resp.Request.Method != http.MethodPost:
		// A 301, 302 or 303 was followed as a GET: the batch never arrived.
		drainHTTPBody(resp.Body)
		err := fmt.Errorf("%w: http POST %s: redirected to %s %s, which dropped the batch (%s)",
			ErrPermanent, h.safeURL, resp.Request.Method, resp.Request.URL.Redacted(), resp.Status)
		h.logger.Error("batch refused", "url", h.safeURL, "store", b.Store, "batch", b.ID, "error", err)
		return err
	case code >= 200 && code < 300:
		drainHTTPBody(resp.Body)
		return nil
	}
	quote, _ := io.ReadAll(io.LimitReader(resp.Body, httpBodyQuote))
	drainHTTPBody(resp.Body)
	status := resp.Status
	if q := bytes.TrimSpace(quote); len(q) > 0 {
		status = fmt.Sprintf("%s: %q", resp.Status, q)
	}
	if code == http.StatusTooManyRequests || code >= 500 && code < 600 {
		err := fmt.Errorf("sinks: http POST %s: %s", h.safeURL, status)
		if after, ok := parseRetryAfter(resp.Header); ok {
			return &RetryAfterError{Err: err, After: after}
		}
		return err
	}
	h.logger.Error("batch refused", "url", h.safeURL, "store", b.Store, "batch", b.ID,
		"status", resp.Status, "body", string(quote))
	return fmt.Errorf("%w: http POST %s: %s", ErrPermanent, h.safeURL, status)
}

// Close closes the idle connections of the sink's own client (not those
// of HTTPConfig.Client). Later flushes fail; Close is idempotent.
func (h *HTTP) Close() error {
	h.closed.Store(true)
	if h.own {
		h.client.CloseIdleConnections()
	}
	return nil
}

// parseRetryAfter reads a Retry-After header: delay-seconds, or an
// HTTP-date taken relative to the response's Date header when it has one
// (so the two clocks need not agree), else to the local clock. A date in
// the past means no wait; waits are capped at httpMaxRetryAfter. ok is
// false when the header is missing or malformed.
func parseRetryAfter(hdr http.Header) (d time.Duration, ok bool) {
	v := strings.TrimSpace(hdr.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(httpMaxRetryAfter/time.Second) {
			// All digits, so the only error is overflow: cap it too.
			return httpMaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	now := time.Now()
	if date, err := http.ParseTime(hdr.Get("Date")); err == nil {
		now = date
	}
	return min(max(at.Sub(now), 0), httpMaxRetryAfter), true
}

// drainHTTPBody reads a little of what is left of a body so that its
// connection can be reused.
func drainHTTPBody(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, httpDrainBytes))
}

// httpDoc is the JSON document an HTTP sink POSTs for one batch.
type httpDoc struct {
	Batch  string       `json:"batch"`
	Store  string       `json:"store"`
	Kind   Kind         `json:"kind"`
	Node   string       `json:"node"`
	Time   string       `json:"time"`
	Counts []httpCount  `json:"counts,omitempty"`
	Values []httpValues `json:"values,omitempty"`
}

type httpCount struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

type httpValues struct {
	Key       string   `json:"key"`
	Values    []string `json:"values,omitzero"`
	ValuesB64 []string `json:"values_b64,omitzero"`
}

// writeHTTPDoc writes b as one JSON document.
func writeHTTPDoc(w io.Writer, b *Batch) error {
	doc := httpDoc{
		Batch: b.ID,
		Store: b.Store,
		Kind:  b.Kind,
		Node:  b.Node,
		Time:  b.Time.UTC().Format(time.RFC3339Nano),
	}
	if len(b.Counts) > 0 {
		doc.Counts = make([]httpCount, len(b.Counts))
		for i, c := range b.Counts {
			doc.Counts[i] = httpCount{Key: c.Key, Count: c.Count}
		}
	}
	if len(b.Values) > 0 {
		doc.Values = make([]httpValues, len(b.Values))
		for i, v := range b.Values {
			doc.Values[i].Key = v.Key
			doc.Values[i].Values, doc.Values[i].ValuesB64 = encodeValues(v.Values)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(&doc)
}
