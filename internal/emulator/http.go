package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/emulation"
)

// HTTP wraps an HTTP emulator's handler with the kit: route names the REST
// method of a request ("" for a request the emulator does not serve, which
// goes to next unrecorded by name); for a named method the middleware
// waits its injected latency, answers an injected or hooked error with
// writeErr (an [emulation.HTTPError] is written as it is), or runs next,
// and records the call with the code of the HTTP status next answered.
// Every request body is limited to [MaxBodyBytes] ([LimitBody]): next must
// answer a read that fails with [TooLarge] by [WriteTooLarge].
// The hook of [Faults] gets the *http.Request (it must not read the body).
func (k *Kit) HTTP(route func(*http.Request) string, writeErr func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := route(r)
		rec := &StatusWriter{ResponseWriter: w}
		defer func() {
			k.Log.add(r.Context(), Request{Method: method, HTTP: r.Method + " " + r.URL.Path, Code: codeOf(rec.Status())})
		}()
		if !LimitBody(rec, r, MaxBodyBytes) {
			return
		}
		if method == "" {
			next.ServeHTTP(rec, r)
			return
		}
		if err := k.Faults.Wait(r.Context(), method); err != nil {
			writeHTTPError(rec, r, status.FromContextError(err).Err(), writeErr)
			return
		}
		if err := k.Faults.Check(method, r); err != nil {
			writeHTTPError(rec, r, err, writeErr)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

func writeHTTPError(w http.ResponseWriter, r *http.Request, err error, writeErr func(http.ResponseWriter, *http.Request, error)) {
	if he, ok := errors.AsType[*emulation.HTTPError](err); ok {
		WriteJSON(w, he.Status, he.Body)
		return
	}
	if writeErr == nil {
		writeErr = WriteGoogleError
	}
	writeErr(w, r, err)
}

// WriteGoogleError answers err in the JSON error shape of Google REST APIs,
// {"error": {"code": HTTP, "message": ..., "status": "NOT_FOUND"}}, with
// the HTTP status of err's gRPC code ([HTTPStatus]).
func WriteGoogleError(w http.ResponseWriter, _ *http.Request, err error) {
	st := status.Convert(err)
	code := HTTPStatus(st.Code())
	WriteJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": st.Message(), "status": StatusName(st.Code())}})
}

// WriteJSON answers v as JSON with the HTTP status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"encoding the response","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // the client went away: nothing to do
}

// StatusWriter records the status code written through it.
type StatusWriter struct {
	http.ResponseWriter
	code int
}

// WriteHeader records code and writes it.
func (s *StatusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write writes b, recording 200 when no status was written.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Status returns the status written, 200 when none was.
func (s *StatusWriter) Status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// HTTPServer is an http.Server serving on its own loopback listener. A nil
// *HTTPServer is an emulator without a listener: its methods do nothing.
type HTTPServer struct {
	// Addr is the "host:port" the server listens on.
	Addr string

	hs     *http.Server
	client *http.Client
	done   chan struct{} // closed when Serve returns
}

// ListenHTTP listens on addr ([DefaultAddress] when empty) and serves h in
// a goroutine until [HTTPServer.Close].
func ListenHTTP(addr string, h http.Handler) (*HTTPServer, error) {
	if addr == "" {
		addr = DefaultAddress
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %q: %w", addr, err)
	}
	s := &HTTPServer{
		Addr:   lis.Addr().String(),
		hs:     &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second},
		client: &http.Client{Transport: &http.Transport{}},
		done:   make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.hs.Serve(lis) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// URL returns "http://ADDR", or "" for a nil server.
func (s *HTTPServer) URL() string {
	if s == nil {
		return ""
	}
	return "http://" + s.Addr
}

// Client returns a plain HTTP client for the server (nil for a nil
// server); Close closes its idle connections.
func (s *HTTPServer) Client() *http.Client {
	if s == nil {
		return nil
	}
	return s.client
}

// Close stops the server at once, ending open requests, and waits until it
// has stopped. It always returns nil.
func (s *HTTPServer) Close() error {
	if s == nil {
		return nil
	}
	_ = s.hs.Close() // always nil for a server that served

	<-s.done
	s.client.CloseIdleConnections()
	return nil
}
