package oci_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/oauth2"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/oci"
	"github.com/twostage/twostage/registry/registrytest"
)

// newServer serves ggcr's in-memory registry on loopback, through wrap
// (nil for none), and returns its host:port.
func newServer(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newRegistry(t testing.TB, opts ...oci.Option) *oci.Registry {
	t.Helper()
	r, err := oci.New(append([]oci.Option{oci.WithInsecure()}, opts...)...)
	if err != nil {
		t.Fatalf("oci.New: %v", err)
	}
	return r
}

func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) (registry.Registry, string) {
		return newRegistry(t), newServer(t, nil) + "/project/repo"
	})
}

// TestResolveWithoutDigestHeader serves one registry twice: plainly, for
// pushing, and with the Docker-Content-Digest header stripped from HEAD
// responses, as some registries do; Resolve must fall back to GET.
func TestResolveWithoutDigestHeader(t *testing.T) {
	t.Parallel()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	var mu sync.Mutex // guards heads, gets
	var heads, gets int
	stripped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			mu.Lock()
			switch r.Method {
			case http.MethodHead:
				heads++
				w = &dropHeader{ResponseWriter: w, header: "Docker-Content-Digest"}
			case http.MethodGet:
				gets++
			}
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(stripped.Close)
	reg := newRegistry(t)
	img := registrytest.Image(t, "no-header")
	pushed, err := reg.Push(t.Context(), strings.TrimPrefix(plain.URL, "http://")+"/p/r/api:abc", img)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(stripped.URL, "http://")
	want := registry.Artifact{Repository: host + "/p/r/api", Digest: pushed.Digest}
	for _, ref := range []string{host + "/p/r/api:abc", want.String()} {
		got, err := reg.Resolve(t.Context(), ref)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", ref, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Resolve(%s) mismatch (-want +got):\n%s", ref, diff)
		}
	}
	if _, err := reg.Resolve(t.Context(), host+"/p/r/api:missing"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Resolve of a missing tag = %v, want ErrNotFound", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if heads != 3 || gets != 2 {
		t.Errorf("made %d HEAD and %d GET manifest requests, want 3 HEAD and 2 GET (fallback only for existing manifests)", heads, gets)
	}
}

// dropHeader removes one header from a response.
type dropHeader struct {
	http.ResponseWriter
	header string
}

func (d *dropHeader) WriteHeader(code int) {
	d.ResponseWriter.Header().Del(d.header)
	d.ResponseWriter.WriteHeader(code)
}

func TestPermissionErrors(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			deny := func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(code)
					fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"Permission denied"}]}`)
				})
			}
			host := newServer(t, deny)
			reg := newRegistry(t)
			_, err := reg.Push(t.Context(), host+"/p/r/api:abc", registrytest.Image(t, "deny"))
			for _, want := range []string{host, "push", "roles/artifactregistry.writer", "artifactregistry.repositories.uploadArtifacts"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Push error %v should mention %q", err, want)
				}
			}
			_, err = reg.Resolve(t.Context(), host+"/p/r/api:abc")
			for _, want := range []string{host, "pull", "roles/artifactregistry.reader"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Resolve error %v should mention %q", err, want)
				}
			}
			if errors.Is(err, twostage.ErrNotFound) {
				t.Errorf("a permission error must not look like not-found (Await would wait on it): %v", err)
			}
		})
	}
}

// staticToken is an oauth2.TokenSource for one fixed token.
type staticToken string

func (s staticToken) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: string(s)}, nil
}

func TestTokenSourceSendsBasicAuth(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex // guards users
	var users []string
	check := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v2/" {
				u, p, ok := r.BasicAuth()
				if !ok || p != "tok123" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				mu.Lock()
				users = append(users, u)
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}
	host := newServer(t, check)
	reg := newRegistry(t, oci.WithTokenSource(staticToken("tok123")))
	img := registrytest.Image(t, "auth")
	if _, err := reg.Push(t.Context(), host+"/p/r/api:abc", img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// go-containerregistry's google.NewTokenSourceAuthenticator sends user
	// "_token"; Artifact Registry accepts it like "oauth2accesstoken".
	if len(users) == 0 || users[0] != "_token" {
		t.Errorf("basic-auth users = %q, want _token", users)
	}
}

func TestNewRejectsConflictingAuth(t *testing.T) {
	t.Parallel()
	_, err := oci.New(oci.WithTokenSource(staticToken("x")), oci.WithAuth(authn.Anonymous))
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("oci.New(WithTokenSource, WithAuth) = %v, want ErrInvalid", err)
	}
	if _, err := oci.New(oci.WithKeychain(authn.DefaultKeychain)); err != nil {
		t.Errorf("oci.New(WithKeychain) = %v, want success", err)
	}
}

func TestPushIndex(t *testing.T) {
	t.Parallel()
	host := newServer(t, nil)
	reg := newRegistry(t)
	withPlatform := func(seed string, p v1.Platform) mutate.IndexAddendum {
		return mutate.IndexAddendum{Add: registrytest.Image(t, seed), Descriptor: v1.Descriptor{Platform: &p}}
	}
	arm := withPlatform("arm", v1.Platform{OS: "linux", Architecture: "arm64"})
	amd := withPlatform("amd", v1.Platform{OS: "linux", Architecture: "amd64"})
	win := withPlatform("win", v1.Platform{OS: "windows", Architecture: "amd64"})

	armOnly := mutate.AppendManifests(empty.Index, arm, win)
	_, err := reg.PushIndex(t.Context(), host+"/p/r/api:arm", armOnly)
	if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "linux/arm64, windows/amd64") {
		t.Errorf("PushIndex(arm64+windows) = %v, want ErrInvalid naming linux/arm64, windows/amd64", err)
	}
	if _, err := reg.Resolve(t.Context(), host+"/p/r/api:arm"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("refused index was pushed anyway: Resolve = %v", err)
	}

	multi := mutate.AppendManifests(empty.Index, arm, amd)
	d, err := multi.Digest()
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.PushIndex(t.Context(), host+"/p/r/api:multi", multi)
	if err != nil {
		t.Fatalf("PushIndex(arm64+amd64): %v", err)
	}
	want := registry.Artifact{Repository: host + "/p/r/api", Digest: d.String()}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("PushIndex mismatch (-want +got):\n%s", diff)
	}
	got, err := reg.Resolve(t.Context(), host+"/p/r/api:multi")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resolve of index mismatch (-want +got):\n%s", diff)
	}
}

func BenchmarkResolve(b *testing.B) {
	host := newServer(b, nil)
	reg := newRegistry(b)
	ref := host + "/p/r/api:4f2c1e0"
	if _, err := reg.Push(b.Context(), ref, registrytest.Image(b, "bench")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Resolve(b.Context(), ref); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuildPushResolve is the build-once path: the digest computed at
// build time is the one a SHA tag resolves to.
func TestBuildPushResolve(t *testing.T) {
	t.Parallel()
	img, err := registry.Build(t.Context(), nil, registry.BuildSpec{
		Files:      map[string][]byte{"/app/index.html": []byte("<h1>v1</h1>")},
		Entrypoint: []string{"/app/server"},
	})
	if err != nil {
		t.Fatal(err)
	}
	built, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	host := newServer(t, nil)
	reg := newRegistry(t)
	const sha = "4f2c1e0aa1b2c3d4e5f60718293a4b5c6d7e8f90"
	pushed, err := reg.Push(t.Context(), host+"/p/r/api:"+sha, img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := registry.Await(t.Context(), reg, host+"/p/r/api:"+sha)
	if err != nil {
		t.Fatal(err)
	}
	want := registry.Artifact{Repository: host + "/p/r/api", Digest: built.String()}
	for what, a := range map[string]registry.Artifact{"Push": pushed, "Await": got} {
		if diff := cmp.Diff(want, a); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
		}
	}
}
