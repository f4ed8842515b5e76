package cloudrunfake

import (
	"fmt"
	"net/http"
	"strings"
)

// NewHTTPClient returns an HTTP client that sends requests for
// "*.run.app" hosts (http or https) as plain HTTP to the data plane of the
// emulator at addr ("host:port": a [Server]'s Addr, or the shared address
// of package fake/emulators), keeping the Host header, so Go code calls a
// service or tag URL as it would in Cloud Run. Other hosts are dialled as
// usual. Close its idle connections (CloseIdleConnections) when done.
func NewHTTPClient(addr string) *http.Client {
	return &http.Client{Transport: NewTransport(addr, nil)}
}

// NewTransport returns the round tripper of [NewHTTPClient] over base (nil:
// a new http.Transport that keeps up to 256 idle connections to addr).
func NewTransport(addr string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: false}
	}
	return &runTransport{addr: addr, base: base}
}

type runTransport struct {
	addr string
	base http.RoundTripper
}

func (t *runTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	host := hostOf(r.URL.Host)
	if host != "run.app" && !strings.HasSuffix(host, ".run.app") {
		return t.base.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	if out.Host == "" {
		out.Host = r.URL.Host
	}
	out.URL.Scheme, out.URL.Host = "http", t.addr
	return t.base.RoundTrip(out)
}

// CloseIdleConnections closes the base transport's idle connections.
func (t *runTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// HTTPClient returns [NewHTTPClient] of the server's address (nil with
// WithoutListener: use the address the server is mounted on).
func (s *Server) HTTPClient() *http.Client {
	if s.Addr == "" {
		return nil
	}
	return NewHTTPClient(s.Addr)
}

// InProcessClient returns an HTTP client that serves "*.run.app" requests
// with [Server.DataPlane] in this process, without a network (other hosts
// fail). Requests take the same route as over HTTP; it suits simulated
// time, where a test sends thousands of requests per simulated second.
func (s *Server) InProcessClient() *http.Client {
	return &http.Client{Transport: &runTransport{addr: "in-process.invalid", base: inProcessOnly{handlerTransport{s.s.dp}}}}
}

// inProcessOnly refuses requests that are not for the data plane.
type inProcessOnly struct{ h handlerTransport }

func (t inProcessOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "in-process.invalid" {
		return nil, fmt.Errorf("cloudrunfake: the in-process client serves only *.run.app URLs, not %s", r.URL.Host)
	}
	return t.h.RoundTrip(r)
}
