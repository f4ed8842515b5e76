package stsfake_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
)

// TestRegistryPushWithFederatedToken pushes an image to an in-memory OCI
// registry that, like Artifact Registry, accepts HTTP Basic auth with user
// "_token" and an access token as password, through
// google.NewTokenSourceAuthenticator over the wif token source.
func TestRegistryPushWithFederatedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fake.NewClock(time.Now().Truncate(time.Second))
	sts, err := stsfake.NewServer(stsfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sts.Close() })
	provider := wif.GitHubProvider(pool, "github-actions", repo)
	if err := sts.AddProvider(stsProvider(provider)); err != nil {
		t.Fatal(err)
	}
	sts.SetActionsClaims(claims())

	var mu sync.Mutex
	pushers := map[string]bool{} // principals that wrote
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		id, known := sts.Identity(pass)
		if !ok || user != "_token" || !known || !id.Matches(wif.RepositoryPrincipal(pool, repo).String()) {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake-pkg-dev"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			mu.Lock()
			pushers[id.Principal] = true
			mu.Unlock()
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(strings.TrimPrefix(front.URL, "http://")+"/demo/app/hello:dev", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}

	// Anonymous pushes are refused.
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err == nil {
		t.Fatal("an anonymous push succeeded")
	}

	gh := &wif.GitHubOIDC{RequestURL: sts.ActionsRequestURL(), RequestToken: sts.RequestToken(), HTTPClient: sts.Client(), Clock: clk}
	ts, err := wif.TokenSource(ctx, provider, gh, wif.WithTokenURL(sts.TokenURL()), wif.WithHTTPClient(sts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(google.NewTokenSourceAuthenticator(ts))); err != nil {
		t.Fatalf("push with the federated token: %v", err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithAuth(google.NewTokenSourceAuthenticator(ts)))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Errorf("pushed digest %s, registry has %s", want, desc.Digest)
	}
	mu.Lock()
	defer mu.Unlock()
	wantPrincipal := wif.SubjectPrincipal(pool, "repo:74:run:5:1").String()
	if len(pushers) != 1 || !pushers[wantPrincipal] {
		t.Errorf("pushers = %v, want only %s", pushers, wantPrincipal)
	}
}
