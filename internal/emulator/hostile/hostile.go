// Package hostile holds the helpers of the emulators' hostile-input tests
// (issue 19): oversized and malformed requests, traversal and negative
// sizes, bursts of concurrent junk, with memory measured by allocation
// counts rather than timing. It is for tests only.
package hostile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MiB is a mebibyte.
const MiB = 1 << 20

// Allocated runs f and returns how many bytes the process allocated while
// it ran (runtime.MemStats.TotalAlloc), after a garbage collection. Run it
// in a test that is not parallel, so that no other test allocates
// meanwhile.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Bounded fails t when f allocates more than limit bytes (three times as
// many under the race detector, whose instrumentation allocates too).
func Bounded(t testing.TB, limit uint64, f func()) {
	t.Helper()
	limit *= raceFactor
	got := Allocated(f)
	t.Logf("allocated %.1f MiB (limit %d MiB)", float64(got)/MiB, limit/MiB)
	if got > limit {
		t.Errorf("allocated %d MiB, want at most %d MiB: the emulator reads hostile input without bound", got/MiB, limit/MiB)
	}
}

// Body returns n bytes of prefix followed by repetitions of fill, produced
// as they are read (never held in memory).
func Body(n int64, prefix string, fill byte) io.Reader {
	return io.LimitReader(io.MultiReader(strings.NewReader(prefix), repeat(fill)), n)
}

type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// Do sends a request with body (nil for none) and returns the status code,
// draining at most 1 MiB of the answer. chunked sends the body without a
// Content-Length. A transport error is returned as status 0: a server may
// close the connection on an oversized body.
func Do(t testing.TB, c *http.Client, method, url, contentType string, body io.Reader, size int64, chunked bool) int {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if body != nil && !chunked {
		req.ContentLength = size
	} else if body != nil {
		req.ContentLength = -1
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MiB))
	return resp.StatusCode
}

// Concurrently runs f(i) for i in 0..n-1 on n goroutines and waits.
func Concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// Junk is a small malformed body: half a JSON object, then bytes no
// decoder accepts.
func Junk(i int) string {
	return fmt.Sprintf(`{"name": "junk-%d", "x": [1, 2, {"y": "\u0000`, i) + strings.Repeat("\xff\xfe", 64)
}

// rawCodec sends and receives []byte as they are, so a test can send bytes
// that are not a valid protobuf message.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" } // the content-subtype servers expect

// InvokeRaw calls the full gRPC method with req as the raw request bytes
// and returns the status code.
func InvokeRaw(ctx context.Context, conn *grpc.ClientConn, method string, req []byte) codes.Code {
	var resp []byte
	err := conn.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{}))
	return status.Code(err)
}

// GRPC checks a gRPC emulator's unary methods against hostile input: a
// request of 8 MiB (over the 4 MiB gRPC default the emulators keep) is
// RESOURCE_EXHAUSTED; bytes that are not a protobuf message and a burst of
// 200 concurrent junk requests over all methods get an error, never OK and
// never a crash; and all of it allocates a bounded amount of memory.
func GRPC(t *testing.T, conn *grpc.ClientConn, methods []string) {
	t.Helper()
	ctx := t.Context()
	// A length-delimited unknown field 15 of 8 MiB: a valid encoding that
	// is too large.
	huge := append([]byte{0x7a, 0x80, 0x80, 0x80, 0x04}, make([]byte, 8*MiB)...)
	Bounded(t, 64*MiB, func() {
		if c := InvokeRaw(ctx, conn, methods[0], huge); c != codes.ResourceExhausted {
			t.Errorf("%s with an 8 MiB request = %v, want ResourceExhausted", methods[0], c)
		}
	})
	huge = nil
	Bounded(t, 64*MiB, func() {
		Concurrently(200, func(i int) {
			m := methods[i%len(methods)]
			junk := []byte(Junk(i))
			if c := InvokeRaw(ctx, conn, m, junk); c == codes.OK {
				t.Errorf("%s with junk bytes = OK, want an error", m)
			}
		})
	})
}
