package backend

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/examples/twostage/internal/config"
)

func TestParseEmulatorHost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want Endpoints
	}{
		{"run=127.0.0.1:1, artifactregistry=127.0.0.1:2,registry=127.0.0.1:3", Endpoints{Run: "127.0.0.1:1", ArtifactRegistry: "127.0.0.1:2", Registry: "127.0.0.1:3"}},
		{"run=h:1,artifactregistry=h:2,registry=h:3,monitoring=h:4,sts=h:5", Endpoints{
			Run: "h:1", ArtifactRegistry: "h:2", Registry: "h:3", Monitoring: "h:4",
			STSTokenURL: "http://h:5/v1/token", IAMCredentials: "http://h:5",
		}},
	} {
		e, d, err := ParseEmulatorHost(tt.in)
		if err != nil || d != "" {
			t.Fatalf("ParseEmulatorHost(%q) = %v, %q, %v", tt.in, e, d, err)
		}
		if diff := cmp.Diff(tt.want, e); diff != "" {
			t.Errorf("ParseEmulatorHost(%q) endpoints mismatch (-want +got):\n%s", tt.in, diff)
		}
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
		// The shape of fake/emulators.Endpoints (fields the CLI does not
		// use are ignored).
		w.Write([]byte(`{"run":"127.0.0.1:1","artifactregistry":"127.0.0.1:2","registry":"127.0.0.1:3","resourcemanager":"127.0.0.1:1",` +
			`"monitoring":"127.0.0.1:1","iam":"http://127.0.0.1:1/","stsTokenURL":"http://127.0.0.1:1/v1/token","iamCredentials":"http://127.0.0.1:1",` +
			`"oidcDiscovery":"http://127.0.0.1:1/.well-known/openid-configuration","actionsTokenURL":"http://127.0.0.1:1/actions/token?api-version=2.0"}`))
	}))
	t.Cleanup(srv.Close)
	e, err := Discover(context.Background(), srv.Client(), srv.Listener.Addr().String())
	want := Endpoints{Run: "127.0.0.1:1", ArtifactRegistry: "127.0.0.1:2", Registry: "127.0.0.1:3", Monitoring: "127.0.0.1:1", STSTokenURL: "http://127.0.0.1:1/v1/token", IAMCredentials: "http://127.0.0.1:1"}
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("Discover endpoints mismatch (-want +got):\n%s", diff)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"run":"x:1"}`)) }))
	t.Cleanup(bad.Close)
	if _, err := Discover(context.Background(), bad.Client(), bad.Listener.Addr().String()); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Discover of incomplete endpoints = %v, want ErrInvalid naming what is missing", err)
	}
}

func FuzzParseEmulatorHost(f *testing.F) {
	for _, s := range []string{"localhost:8085", "run=a:1,artifactregistry=b:2,registry=c:3", "run=", ",", "x=y", "run=a:1,artifactregistry=b:2,registry=c:3,monitoring=d:4,sts=e:5"} {
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
		if (e.STSTokenURL == "") != (e.IAMCredentials == "") || e.STSTokenURL != "" && e.STSTokenURL != e.IAMCredentials+"/v1/token" {
			t.Fatalf("ParseEmulatorHost(%q): STS %q and IAM Credentials %q are not one address", s, e.STSTokenURL, e.IAMCredentials)
		}
	})
}

// TestOpenSendsBearerToEmulator checks that with a token source (keyless
// auth) the emulator's gRPC APIs receive it as "authorization: Bearer"
// metadata over the plain-text connection, and without one no
// authorization at all.
func TestOpenSendsBearerToEmulator(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		ts   oauth2.TokenSource
		want []string
	}{
		{"keyless", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok-1", TokenType: "Bearer"}), []string{"Bearer tok-1"}},
		{"no token source", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A gRPC server that records the authorization metadata of
			// every call and implements nothing.
			var mu sync.Mutex
			var got []string
			gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
				md, _ := metadata.FromIncomingContext(stream.Context())
				mu.Lock()
				got = append(got, md.Get("authorization")...)
				mu.Unlock()
				return status.Error(codes.Unimplemented, "recorder")
			}))
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go gs.Serve(lis)
			t.Cleanup(gs.Stop)
			cfg, err := config.Parse("twostage.yaml", []byte("project: my-project\nregion: us-central1\nregistry: {repository: apps, image: api}\nservices: {dev: api-dev, prod: api}\n"))
			if err != nil {
				t.Fatal(err)
			}
			addr := lis.Addr().String()
			_, err = Open(t.Context(), cfg, Options{Emulator: &Endpoints{Run: addr, ArtifactRegistry: addr, Registry: addr}, TokenSource: tt.ts})
			if err == nil || !strings.Contains(err.Error(), "recorder") {
				t.Fatalf("Open = %v, want the recorder's UNIMPLEMENTED from GetRepository", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("authorization metadata mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
