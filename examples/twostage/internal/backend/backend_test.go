package backend

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
)

func TestParseEmulatorHost(t *testing.T) {
	t.Parallel()
	e, d, err := ParseEmulatorHost("run=127.0.0.1:1, artifactregistry=127.0.0.1:2,registry=127.0.0.1:3")
	if err != nil || d != "" {
		t.Fatalf("ParseEmulatorHost = %v, %q, %v", e, d, err)
	}
	if diff := cmp.Diff(Endpoints{Run: "127.0.0.1:1", ArtifactRegistry: "127.0.0.1:2", Registry: "127.0.0.1:3"}, e); diff != "" {
		t.Errorf("endpoints mismatch (-want +got):\n%s", diff)
	}
	if _, d, err := ParseEmulatorHost("localhost:8085"); err != nil || d != "localhost:8085" {
		t.Errorf("discovery form = %q, %v", d, err)
	}
	for _, bad := range []string{"", "run=a:1", "run=a:1,artifactregistry=b:2,registry=c:3,pubsub=d:4", "http://x:1", "run=", "run=a/b:1,artifactregistry=b:2,registry=c:3"} {
		if _, _, err := ParseEmulatorHost(bad); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("ParseEmulatorHost(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != DiscoveryPath {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"run":"127.0.0.1:1","artifactregistry":"127.0.0.1:2","registry":"127.0.0.1:3"}`))
	}))
	t.Cleanup(srv.Close)
	e, err := Discover(context.Background(), srv.Client(), srv.Listener.Addr().String())
	if err != nil || e.Registry != "127.0.0.1:3" {
		t.Errorf("Discover = %+v, %v", e, err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"run":"x:1"}`)) }))
	t.Cleanup(bad.Close)
	if _, err := Discover(context.Background(), bad.Client(), bad.Listener.Addr().String()); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Discover of incomplete endpoints = %v, want ErrInvalid naming what is missing", err)
	}
}

func FuzzParseEmulatorHost(f *testing.F) {
	for _, s := range []string{"localhost:8085", "run=a:1,artifactregistry=b:2,registry=c:3", "run=", ",", "x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, d, err := ParseEmulatorHost(s)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if d == "" && (e.Run == "" || e.ArtifactRegistry == "" || e.Registry == "") {
			t.Fatalf("ParseEmulatorHost(%q) = %+v without discovery", s, e)
		}
	})
}
