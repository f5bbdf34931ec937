package loaders

import (
	"context"
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
	// Timeout bounds one load: connecting, waiting for the response and
	// reading the body. 0 means DefaultTimeout (5s); the context passed to
	// Load may cut it shorter.
	Timeout time.Duration
	// Headers are sent with every request (Authorization, Accept, ...).
	// "Host" sets the request's Host.
	Headers map[string]string
	// MaxBodyBytes is the largest value accepted: a bigger body is an
	// error, not a truncated value. 0 means DefaultMaxBodyBytes (8 MiB).
	MaxBodyBytes int64
	// Client sends the requests; its own Timeout, if any, applies too.
	// nil means a client of the loader's own, with its own connection pool
	// and http.DefaultTransport's settings.
	Client *http.Client
}

// Validate reports whether c is usable: an absolute http or https URL with
// a host and "{key}" in its path or query, no negative Timeout or
// MaxBodyBytes, and well-formed Headers.
func (c *HTTPConfig) Validate() error {
	if c.URL == "" {
		return errors.New("loaders: http: URL is required")
	}
	if !strings.Contains(c.URL, "{key}") {
		return fmt.Errorf("loaders: http %s: URL must contain {key}", endpoint.URL(c.URL))
	}
	// The marker has no character either escaper changes.
	const marker = "hoardkeymarker"
	u, err := url.Parse(strings.ReplaceAll(c.URL, "{key}", marker))
	if err != nil {
		return fmt.Errorf("loaders: http %s: invalid URL: %w", endpoint.URL(c.URL), errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("loaders: http %s: URL scheme must be http or https", u.Redacted())
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("loaders: http %s: URL needs a host", u.Redacted())
	case strings.Contains(u.Host, marker) || strings.Contains(u.User.String(), marker):
		return fmt.Errorf("loaders: http %s: {key} may only appear in the path or query", u.Redacted())
	case strings.Contains(u.Fragment, marker):
		return fmt.Errorf("loaders: http %s: {key} may only appear in the path or query", u.Redacted())
	case c.Timeout < 0:
		return fmt.Errorf("loaders: http %s: negative Timeout %v", u.Redacted(), c.Timeout)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("loaders: http %s: negative MaxBodyBytes %d", u.Redacted(), c.MaxBodyBytes)
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

// HTTP loads a key with GET on a URL made from the key: a 200 response's
// body is the value, 404 is ErrNotFound, anything else an error naming the
// status and quoting the start of the body. It is safe for concurrent use.
type HTTP struct {
	tmpl    string // HTTPConfig.URL
	query   int    // index of the first '?' in tmpl, or len(tmpl)
	timeout time.Duration
	maxBody int64
	header  http.Header
	host    string
	client  *http.Client
}

var _ Loader = (*HTTP)(nil)

// NewHTTP returns an HTTP loader, or the error of cfg.Validate.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &HTTP{
		tmpl:    cfg.URL,
		query:   len(cfg.URL),
		timeout: cfg.Timeout,
		maxBody: cfg.MaxBodyBytes,
		header:  make(http.Header, len(cfg.Headers)),
		client:  cfg.Client,
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
	u := h.url(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Result{}, fmt.Errorf("loaders: http GET %s: %w", endpoint.URL(u), err)
	}
	req.Header = h.header.Clone()
	if h.host != "" {
		req.Host = h.host
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// A *url.Error: it names the method and the URL, without password.
		return Result{}, fmt.Errorf("loaders: http: %w", err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength > h.maxBody {
			return Result{}, fmt.Errorf("loaders: http GET %s: body of %d bytes is over MaxBodyBytes (%d)",
				req.URL.Redacted(), resp.ContentLength, h.maxBody)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody+1))
		if err != nil {
			return Result{}, fmt.Errorf("loaders: http GET %s: reading body: %w", req.URL.Redacted(), err)
		}
		if int64(len(body)) > h.maxBody {
			return Result{}, fmt.Errorf("loaders: http GET %s: body is over MaxBodyBytes (%d)", req.URL.Redacted(), h.maxBody)
		}
		return Result{Value: body}, nil
	case http.StatusNotFound:
		drain(resp.Body)
		return Result{}, fmt.Errorf("loaders: http GET %s: %w", req.URL.Redacted(), ErrNotFound)
	default:
		head, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyBytes))
		drain(resp.Body)
		return Result{}, fmt.Errorf("loaders: http GET %s: unexpected status %s: %q",
			req.URL.Redacted(), resp.Status, strings.TrimSpace(string(head)))
	}
}

// drain reads a little of what is left of a body so that its connection
// can be reused.
func drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
}
