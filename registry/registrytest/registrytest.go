package registrytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
)

// NewRegistry returns a fresh, empty registry for one subtest and a
// repository prefix "HOST/PATH" under which the suite may push images,
// for example "127.0.0.1:5000/project/repo". The suite appends one more
// path component per image. Clean-up goes through t.Cleanup.
type NewRegistry func(t *testing.T) (reg registry.Registry, repo string)

// Run runs the conformance tests against registries made by newRegistry.
// Subtests run in parallel; newRegistry must be safe to call concurrently.
func Run(t *testing.T, newRegistry NewRegistry) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, reg registry.Registry, repo string)
	}{
		{"PushThenResolve", testPushThenResolve},
		{"UnknownTag", testUnknown},
		{"Malformed", testMalformed},
		{"PushTwiceIsNoOp", testPushTwice},
		{"TagMove", testTagMove},
		{"Tagger", testTagger},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, repo := newRegistry(t)
			tt.fn(t, reg, repo)
		})
	}
}

// Image returns a small, valid linux/amd64 image whose content depends
// only on seed: equal seeds give equal digests.
func Image(t testing.TB, seed string) v1.Image {
	t.Helper()
	layer := static.NewLayer([]byte("registrytest layer "+seed), types.OCILayer)
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatalf("building image %q: %v", seed, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading config of image %q: %v", seed, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("setting platform of image %q: %v", seed, err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("img.Digest: %v", err)
	}
	return d.String()
}

func push(t *testing.T, reg registry.Registry, ref string, img v1.Image) registry.Artifact {
	t.Helper()
	a, err := reg.Push(t.Context(), ref, img)
	if err != nil {
		t.Fatalf("Push(%s): %v", ref, err)
	}
	return a
}

func resolve(t *testing.T, reg registry.Registry, ref string) registry.Artifact {
	t.Helper()
	a, err := reg.Resolve(t.Context(), ref)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", ref, err)
	}
	return a
}

func testPushThenResolve(t *testing.T, reg registry.Registry, repo string) {
	img := Image(t, "push-then-resolve")
	image := repo + "/api"
	want := registry.Artifact{Repository: image, Digest: digest(t, img)}
	got := push(t, reg, image+":4f2c1e0aa1b2c3d4e5f60718293a4b5c6d7e8f90", img)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Push mismatch (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Push returned an invalid artifact: %v", err)
	}
	if diff := cmp.Diff(want, resolve(t, reg, image+":4f2c1e0aa1b2c3d4e5f60718293a4b5c6d7e8f90")); diff != "" {
		t.Errorf("Resolve by tag mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, resolve(t, reg, want.String())); diff != "" {
		t.Errorf("Resolve by digest mismatch (-want +got):\n%s", diff)
	}
}

func testUnknown(t *testing.T, reg registry.Registry, repo string) {
	push(t, reg, repo+"/api:present", Image(t, "unknown"))
	for _, ref := range []string{
		repo + "/api:absent",
		repo + "/api@sha256:" + fmt.Sprintf("%064x", 42),
		repo + "/never-pushed:latest",
	} {
		_, err := reg.Resolve(t.Context(), ref)
		if !errors.Is(err, twostage.ErrNotFound) {
			t.Errorf("Resolve(%s) = %v, want an error wrapping ErrNotFound", ref, err)
		}
	}
}

func testMalformed(t *testing.T, reg registry.Registry, repo string) {
	img := Image(t, "malformed")
	for _, ref := range []string{
		"",
		"api:latest",             // no host
		repo + "/API:latest",     // upper-case path
		repo + "/api",            // neither tag nor digest
		repo + "/api:-bad",       // tag starts with '-'
		repo + "/api@sha256:abc", // short digest
		repo + "/api:" + strings.Repeat("a", 129), // tag too long
	} {
		if _, err := reg.Resolve(t.Context(), ref); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Resolve(%q) = %v, want an error wrapping ErrInvalid", ref, err)
		}
		if _, err := reg.Push(t.Context(), ref, img); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Push(%q) = %v, want an error wrapping ErrInvalid", ref, err)
		}
	}
}

func testPushTwice(t *testing.T, reg registry.Registry, repo string) {
	img := Image(t, "twice")
	ref := repo + "/api:twice"
	first := push(t, reg, ref, img)
	second := push(t, reg, ref, img)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second Push mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(first, resolve(t, reg, ref)); diff != "" {
		t.Errorf("Resolve after two pushes mismatch (-want +got):\n%s", diff)
	}
	// The same image under a second tag keeps its digest: identity is content.
	third := push(t, reg, repo+"/api:other", img)
	if diff := cmp.Diff(first, third); diff != "" {
		t.Errorf("Push under another tag mismatch (-want +got):\n%s", diff)
	}
}

func testTagMove(t *testing.T, reg registry.Registry, repo string) {
	ref := repo + "/api:latest"
	a1 := push(t, reg, ref, Image(t, "move-1"))
	a2 := push(t, reg, ref, Image(t, "move-2"))
	if a1.Digest == a2.Digest {
		t.Fatalf("two different images have the same digest %s", a1.Digest)
	}
	if diff := cmp.Diff(a2, resolve(t, reg, ref)); diff != "" {
		t.Errorf("Resolve of the moved tag mismatch (-want +got):\n%s", diff)
	}
	// The old image stays reachable by digest.
	if diff := cmp.Diff(a1, resolve(t, reg, a1.String())); diff != "" {
		t.Errorf("Resolve of the untagged digest mismatch (-want +got):\n%s", diff)
	}
}

func testTagger(t *testing.T, reg registry.Registry, repo string) {
	tagger, ok := reg.(registry.Tagger)
	if !ok {
		t.Skip("registry does not implement registry.Tagger")
	}
	a := push(t, reg, repo+"/api:4f2c1e0", Image(t, "tagger"))
	if err := tagger.Tag(t.Context(), a, "v1.4.2"); err != nil {
		t.Fatalf("Tag(%s, v1.4.2): %v", a, err)
	}
	if err := tagger.Tag(t.Context(), a, "v1.4.2"); err != nil {
		t.Errorf("Tag again with the same tag = %v, want a no-op", err)
	}
	if diff := cmp.Diff(a, resolve(t, reg, a.Repository+":v1.4.2")); diff != "" {
		t.Errorf("Resolve of the release tag mismatch (-want +got):\n%s", diff)
	}
	missing := registry.Artifact{Repository: a.Repository, Digest: "sha256:" + fmt.Sprintf("%064x", 7)}
	if err := tagger.Tag(t.Context(), missing, "v9"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Tag of a missing digest = %v, want an error wrapping ErrNotFound", err)
	}
	if err := tagger.Tag(t.Context(), a, "-bad"); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Tag with tag %q = %v, want an error wrapping ErrInvalid", "-bad", err)
	}
}

func testConcurrent(t *testing.T, reg registry.Registry, repo string) {
	img := Image(t, "concurrent")
	want := push(t, reg, repo+"/api:c", img)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			if i%2 == 0 {
				if _, err := reg.Push(ctx, repo+"/api:c", img); err != nil {
					errs <- fmt.Errorf("Push: %w", err)
				}
				return
			}
			got, err := reg.Resolve(ctx, repo+"/api:c")
			if err != nil {
				errs <- fmt.Errorf("Resolve: %w", err)
				return
			}
			if got != want {
				errs <- fmt.Errorf("Resolve = %v, want %v", got, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
