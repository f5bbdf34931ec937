package loaders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hoard-dev/hoard/internal/endpoint"

	"golang.org/x/net/http/httpguts"
)

// Defaults for zero config fields.
const (
	// DefaultTimeout bounds one load when a config's Timeout is 0.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxBodyBytes is the largest HTTP value accepted when
	// HTTPConfig.MaxBodyBytes is 0.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxInitBytes is the largest body of HTTPConfig.InitURL
	// accepted when HTTPConfig.MaxInitBytes is 0.
	DefaultMaxInitBytes = 64 << 20
)

// errBodyBytes is how much of an unexpected response's body an error quotes.
const errBodyBytes = 200

// HTTPConfig configures an HTTP loader.
type HTTPConfig struct {
	// URL is the http or https URL to GET, with "{key}" where the key
	// goes: "http://users.internal/users/{key}". In the path {key} is
	// replaced by url.PathEscape(key), so a key with slashes, spaces or
	// unicode stays one escaped path segment (the keys "." and ".." become
	// %2E and %2E%2E, so they stay names); after a '?' it is replaced by
	// url.QueryEscape(key). Required.
	URL string
	// Timeout bounds one load, and the InitURL request: connecting,
	// waiting for the response and reading the body. 0 means
	// DefaultTimeout (5s); the context passed to Load or Init may cut it
	// shorter.
	Timeout time.Duration
	// Headers are sent with every request (Authorization, Accept, ...).
	// "Host" sets the request's Host.
	Headers map[string]string
	// MaxBodyBytes is the largest value accepted: a bigger body is an
	// error, not a truncated value. 0 means DefaultMaxBodyBytes (8 MiB).
	MaxBodyBytes int64
	// InitURL, when set, is the http or https URL that seeds the cache at
	// start (DataWorker's init/1): a GET whose 200 response is a JSON
	// object of strings, {"key": "value", ...}, each member an entry.
	// Empty: no seeding (see HTTP.Loader). Headers apply to it too.
	InitURL string
	// MaxInitBytes is the largest InitURL body accepted: a bigger one is
	// an error. 0 means DefaultMaxInitBytes (64 MiB).
	MaxInitBytes int64
	// Client sends the requests; its own Timeout, if any, applies too.
	// nil means a client of the loader's own, with its own connection pool
	// and http.DefaultTransport's settings.
	Client *http.Client
}

// Validate reports whether c is usable: an absolute http or https URL with
// a host and "{key}" in its path or query; an InitURL, if set, absolute
// http or https with a host and no "{key}"; no negative Timeout,
// MaxBodyBytes or MaxInitBytes; and well-formed Headers.
func (c *HTTPConfig) Validate() error {
	if c.URL == "" {
		return errors.New("loaders: http: URL is required")
	}
	if !strings.Contains(c.URL, "{key}") {
		return fmt.Errorf("loaders: http %s: URL must contain {key}", endpoint.URL(c.URL))
	}
	// The marker has no character either escaper changes.
	const marker = "hoardkeymarker"
	u, err := endpoint.HTTPURL(strings.ReplaceAll(c.URL, "{key}", marker))
	if err != nil {
		return fmt.Errorf("loaders: http %s: %w", endpoint.Name(c.URL, u), err)
	}
	switch {
	case strings.Contains(u.Host, marker) || strings.Contains(u.User.String(), marker):
		return fmt.Errorf("loaders: http %s: {key} may only appear in the path or query", u.Redacted())
	case strings.Contains(u.Fragment, marker):
		return fmt.Errorf("loaders: http %s: {key} may only appear in the path or query", u.Redacted())
	case c.Timeout < 0:
		return fmt.Errorf("loaders: http %s: negative Timeout %v", u.Redacted(), c.Timeout)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("loaders: http %s: negative MaxBodyBytes %d", u.Redacted(), c.MaxBodyBytes)
	case c.MaxInitBytes < 0:
		return fmt.Errorf("loaders: http %s: negative MaxInitBytes %d", u.Redacted(), c.MaxInitBytes)
	}
	if c.InitURL != "" {
		if err := checkInitURL(c.InitURL); err != nil {
			return fmt.Errorf("loaders: http %s: %w", u.Redacted(), err)
		}
	}
	for k, v := range c.Headers {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("loaders: http %s: invalid header name %q", u.Redacted(), k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("loaders: http %s: header %s: value contains CR, LF or NUL", u.Redacted(), k)
		}
	}
	return nil
}

// checkInitURL checks an HTTPConfig.InitURL that is set.
func checkInitURL(raw string) error {
	if strings.Contains(raw, "{key}") {
		return fmt.Errorf("InitURL %s takes no {key}: one GET returns every entry", endpoint.URL(raw))
	}
	if u, err := endpoint.HTTPURL(raw); err != nil {
		return fmt.Errorf("InitURL %s: %w", endpoint.Name(raw, u), err)
	}
	return nil
}

// HTTP loads a key with GET on a URL made from the key: a 200 response's
// body is the value, 404 is ErrNotFound, anything else an error naming the
// status and quoting the start of the body. With an InitURL it seeds the
// cache too (see Loader). It is safe for concurrent use.
type HTTP struct {
	tmpl    string // HTTPConfig.URL
	query   int    // index of the first '?' in tmpl, or len(tmpl)
	timeout time.Duration
	maxBody int64
	initURL string
	maxInit int64
	header  http.Header
	host    string
	client  *http.Client
}

// NewHTTP returns an HTTP loader, or the error of cfg.Validate.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &HTTP{
		tmpl:    cfg.URL,
		query:   len(cfg.URL),
		client:  cfg.Client,
		header:  make(http.Header, len(cfg.Headers)),
		timeout: cfg.Timeout,
		maxBody: cfg.MaxBodyBytes,
		initURL: cfg.InitURL,
		maxInit: cfg.MaxInitBytes,
	}
	if i := strings.IndexByte(cfg.URL, '?'); i >= 0 {
		h.query = i
	}
	if h.timeout == 0 {
		h.timeout = DefaultTimeout
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxInit == 0 {
		h.maxInit = DefaultMaxInitBytes
	}
	for k, v := range cfg.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			h.host = v
			continue
		}
		h.header.Set(k, v)
	}
	if h.client == nil {
		var rt http.RoundTripper = http.DefaultTransport
		if t, ok := rt.(*http.Transport); ok {
			rt = t.Clone()
		}
		h.client = &http.Client{Transport: rt}
	}
	return h, nil
}

var _ Loader = (*HTTP)(nil)

// url returns the URL to GET for key.
func (h *HTTP) url(key string) string {
	var b strings.Builder
	rest := h.tmpl
	for {
		i := strings.Index(rest, "{key}")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i])
		switch {
		case len(h.tmpl)-len(rest)+i > h.query:
			b.WriteString(url.QueryEscape(key))
		case key == "." || key == "..":
			// Escaped, lest the segment be read as "this" or "parent".
			b.WriteString(strings.Repeat("%2E", len(key)))
		default:
			b.WriteString(url.PathEscape(key))
		}
		rest = rest[i+len("{key}"):]
	}
}

// Load GETs the key's URL. It returns the body of a 200 response as the
// value (the caller owns it), an error wrapping ErrNotFound for a 404, an
// error naming the status and quoting the first 200 bytes of the body for
// any other status, an error for a body over MaxBodyBytes, and the
// context's error (wrapped) when ctx or the loader's Timeout runs out.
func (h *HTTP) Load(ctx context.Context, key string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	body, err := h.get(ctx, request{prefix: "loaders: http", url: h.url(key), max: h.maxBody, limit: "MaxBodyBytes", notFound: true})
	if err != nil {
		return Result{}, err
	}
	return Result{Value: body}, nil
}

// Loader returns h as the loader to give a cache store: h itself without an
// HTTPConfig.InitURL; with one, a Loader that loads with h and is also an
// Initializer whose Init seeds the store from InitURL. Init GETs InitURL
// under the loader's Timeout and decodes the 200 response's body, a JSON
// object of strings ({"key": "value", ...}), into the entries (the caller
// owns them; a repeated name keeps its last value). Any other status, a
// body over MaxInitBytes, or a body that is not such an object, is an
// error; none wraps ErrStopStart, so the node starts without the entries.
func (h *HTTP) Loader() Loader {
	if h.initURL == "" {
		return h
	}
	return seeding{h, h.init}
}

func (h *HTTP) init(ctx context.Context) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	body, err := h.get(ctx, request{prefix: "loaders: http init", url: h.initURL, max: h.maxInit, limit: "MaxInitBytes"})
	if err != nil {
		return nil, err
	}
	entries, err := decodeEntries(body)
	if err != nil {
		return nil, fmt.Errorf("loaders: http init GET %s: %w", endpoint.URL(h.initURL), err)
	}
	return entries, nil
}

// decodeEntries decodes a JSON object of strings into entries.
func decodeEntries(body []byte) (map[string][]byte, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, fmt.Errorf("body is not a JSON object of strings: %w", err)
	}
	if members == nil {
		return nil, errors.New("body is null, want a JSON object of strings")
	}
	entries := make(map[string][]byte, len(members))
	for k, raw := range members {
		var v string
		if len(raw) == 0 || raw[0] != '"' {
			return nil, fmt.Errorf("the value of %q is %.20s, want a string", k, raw)
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("the value of %q: %w", k, err)
		}
		entries[k] = []byte(v)
	}
	return entries, nil
}

// request is a GET of HTTP.get's.
type request struct {
	prefix   string // of its errors
	url      string
	max      int64  // bytes of the body at most
	limit    string // names max in errors
	notFound bool   // a 404 is ErrNotFound, not an unexpected status
}

// get GETs g.url and returns the body of a 200 response, or an error
// starting with g.prefix: for a body over g.max, wrapping ErrNotFound for a
// 404 if g.notFound, naming the status and quoting the start of the body
// for any other status.
func (h *HTTP) get(ctx context.Context, g request) ([]byte, error) {
	prefix, u, max, limit := g.prefix, g.url, g.max, g.limit
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s GET %s: %w", prefix, endpoint.URL(u), err)
	}
	req.Header = h.header.Clone()
	if h.host != "" {
		req.Host = h.host
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// A *url.Error: it names the method and the URL, without password.
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength > max {
			return nil, fmt.Errorf("%s GET %s: body of %d bytes is over %s (%d)",
				prefix, req.URL.Redacted(), resp.ContentLength, limit, max)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err != nil {
			return nil, fmt.Errorf("%s GET %s: reading body: %w", prefix, req.URL.Redacted(), err)
		}
		if int64(len(body)) > max {
			return nil, fmt.Errorf("%s GET %s: body is over %s (%d)", prefix, req.URL.Redacted(), limit, max)
		}
		return body, nil
	case http.StatusNotFound:
		if !g.notFound {
			break
		}
		drain(resp.Body)
		return nil, fmt.Errorf("%s GET %s: %w", prefix, req.URL.Redacted(), ErrNotFound)
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyBytes))
	drain(resp.Body)
	return nil, fmt.Errorf("%s GET %s: unexpected status %s: %q",
		prefix, req.URL.Redacted(), resp.Status, strings.TrimSpace(string(head)))
}

// drain reads a little of what is left of a body so that its connection
// can be reused.
func drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
}
