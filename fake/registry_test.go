package fake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
)

const testRepo = "europe-west1-docker.pkg.dev/proj/apps/api"

func digestOf(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestNewImageDeterministic(t *testing.T) {
	t.Parallel()
	a, b, c := digestOf(t, NewImage("a")), digestOf(t, NewImage("a")), digestOf(t, NewImage("b"))
	if a != b {
		t.Errorf("NewImage(\"a\") digests differ: %s, %s", a, b)
	}
	if a == c {
		t.Errorf("NewImage(\"a\") and NewImage(\"b\") share digest %s", a)
	}
	if err := registry.ValidateDigest(a); err != nil {
		t.Error(err)
	}
}

func TestRegistryPushResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img1, img2 := NewImage("one"), NewImage("two")
	d1, d2 := digestOf(t, img1), digestOf(t, img2)
	other := "europe-west1-docker.pkg.dev/proj/apps/web"
	missing := "sha256:" + strings.Repeat("0", 64)

	type push struct {
		ref string
		img v1.Image
	}
	tests := []struct {
		name    string
		pushes  []push
		resolve string
		want    registry.Artifact
		wantErr error
	}{
		{"tag", []push{{testRepo + ":abc", img1}}, testRepo + ":abc", registry.Artifact{Repository: testRepo, Digest: d1}, nil},
		{"tag moves to the last push", []push{{testRepo + ":latest", img1}, {testRepo + ":latest", img2}}, testRepo + ":latest", registry.Artifact{Repository: testRepo, Digest: d2}, nil},
		{"old digest stays after the tag moved", []push{{testRepo + ":latest", img1}, {testRepo + ":latest", img2}}, testRepo + "@" + d1, registry.Artifact{Repository: testRepo, Digest: d1}, nil},
		{"digest ref", []push{{testRepo + ":abc", img1}}, testRepo + "@" + d1, registry.Artifact{Repository: testRepo, Digest: d1}, nil},
		{"tag and digest: the digest decides", []push{{testRepo + ":abc", img1}, {testRepo + ":def", img2}}, testRepo + ":abc@" + d2, registry.Artifact{Repository: testRepo, Digest: d2}, nil},
		{"same image pushed twice", []push{{testRepo + ":abc", img1}, {testRepo + ":abc", img1}}, testRepo + ":abc", registry.Artifact{Repository: testRepo, Digest: d1}, nil},
		{"same image under two tags", []push{{testRepo + ":abc", img1}, {testRepo + ":v1", img1}}, testRepo + ":v1", registry.Artifact{Repository: testRepo, Digest: d1}, nil},
		{"registry with a port", []push{{"localhost:5000/api:abc", img1}}, "localhost:5000/api:abc", registry.Artifact{Repository: "localhost:5000/api", Digest: d1}, nil},
		{"missing tag", []push{{testRepo + ":abc", img1}}, testRepo + ":nope", registry.Artifact{}, twostage.ErrNotFound},
		{"missing repository", nil, testRepo + ":abc", registry.Artifact{}, twostage.ErrNotFound},
		{"missing digest", []push{{testRepo + ":abc", img1}}, testRepo + "@" + missing, registry.Artifact{}, twostage.ErrNotFound},
		{"digest held by another repository only", []push{{other + ":abc", img1}}, testRepo + "@" + d1, registry.Artifact{}, twostage.ErrNotFound},
		{"tag of another repository", []push{{other + ":abc", img1}}, testRepo + ":abc", registry.Artifact{}, twostage.ErrNotFound},
		{"malformed ref", nil, "api:abc", registry.Artifact{}, twostage.ErrInvalid},
		{"ref without tag or digest", nil, testRepo, registry.Artifact{}, twostage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRegistry()
			for _, p := range tt.pushes {
				a, err := r.Push(ctx, p.ref, p.img)
				if err != nil {
					t.Fatalf("Push(%q) = %v", p.ref, err)
				}
				ref, _ := registry.ParseReference(p.ref)
				if want := (registry.Artifact{Repository: ref.Repository, Digest: digestOf(t, p.img)}); a != want {
					t.Fatalf("Push(%q) = %v, want %v", p.ref, a, want)
				}
			}
			got, err := r.Resolve(ctx, tt.resolve)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Resolve(%q) error = %v, want %v", tt.resolve, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.resolve) {
				t.Errorf("Resolve(%q) error %q does not name the reference", tt.resolve, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q) mismatch (-want +got):\n%s", tt.resolve, diff)
			}
		})
	}
}

func TestRegistryPushInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img := NewImage("x")
	tests := []struct {
		name string
		ref  string
		img  v1.Image
	}{
		{"digest only", testRepo + "@" + digestOf(t, img), img},
		{"tag and digest", testRepo + ":abc@" + digestOf(t, img), img},
		{"no tag", testRepo, img},
		{"no host", "apps/api:abc", img},
		{"bad tag", testRepo + ":-abc", img},
		{"upper-case path", "example.com/Apps/api:abc", img},
		{"nil image", testRepo + ":abc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewRegistry()
			if _, err := r.Push(ctx, tt.ref, tt.img); !errors.Is(err, twostage.ErrInvalid) {
				t.Errorf("Push(%q) = %v, want an error wrapping ErrInvalid", tt.ref, err)
			}
			if _, err := r.Resolve(ctx, testRepo+":abc"); !errors.Is(err, twostage.ErrNotFound) {
				t.Errorf("after a failed push, Resolve = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestRegistryCanceledContext(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.Seed(testRepo+":abc", digestOf(t, NewImage("x")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Push(ctx, testRepo+":def", NewImage("y")); !errors.Is(err, context.Canceled) {
		t.Errorf("Push(canceled) = %v, want context.Canceled", err)
	}
	if _, err := r.Resolve(ctx, testRepo+":abc"); !errors.Is(err, context.Canceled) {
		t.Errorf("Resolve(canceled) = %v, want context.Canceled", err)
	}
	if _, err := r.Resolve(context.Background(), testRepo+":def"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("a canceled push stored the image: Resolve = %v", err)
	}
}

func TestRegistrySeedImageAndUntag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := NewRegistry()
	img, err := random.Image(1024, 1) // any image works, not only NewImage
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := r.Push(ctx, testRepo+":pushed", img)
	if err != nil {
		t.Fatal(err)
	}
	seededDigest := "sha256:" + strings.Repeat("ab", 32)
	r.Seed(testRepo+":seeded", seededDigest)

	got, err := r.Resolve(ctx, testRepo+":seeded")
	if err != nil {
		t.Fatal(err)
	}
	if want := (registry.Artifact{Repository: testRepo, Digest: seededDigest}); got != want {
		t.Errorf("Resolve(seeded) = %v, want %v", got, want)
	}
	if _, err := r.Resolve(ctx, testRepo+"@"+seededDigest); err != nil {
		t.Errorf("Resolve(seeded digest) = %v", err)
	}
	if gotImg, ok := r.Image(pushed); !ok || gotImg != img {
		t.Errorf("Image(pushed) = %v, %v; want the pushed image", gotImg, ok)
	}
	if _, ok := r.Image(got); ok {
		t.Error("Image(seeded) reported an image")
	}

	if !r.Untag(testRepo + ":pushed") {
		t.Error("Untag(pushed) = false, want true")
	}
	if r.Untag(testRepo + ":pushed") {
		t.Error("second Untag(pushed) = true, want false")
	}
	if r.Untag("example.com/none:x") {
		t.Error("Untag in a missing repository = true")
	}
	if _, err := r.Resolve(ctx, testRepo+":pushed"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Resolve(untagged) = %v, want ErrNotFound", err)
	}
	if _, err := r.Resolve(ctx, pushed.String()); err != nil {
		t.Errorf("Resolve(digest of untagged) = %v, want the digest to stay", err)
	}
	if len(r.Calls()) != 5 { // one Push, four Resolves
		t.Errorf("Seed, Untag or Image were recorded as calls: %v", r.Calls())
	}
}

func TestRegistrySeedPanics(t *testing.T) {
	t.Parallel()
	good := "sha256:" + strings.Repeat("0", 64)
	for _, tt := range []struct{ ref, digest string }{
		{"bad", good},
		{testRepo + "@" + good, good},
		{testRepo + ":abc", "sha256:short"},
	} {
		t.Run(tt.ref+" "+tt.digest, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("Seed(%q, %q) did not panic", tt.ref, tt.digest)
				}
			}()
			NewRegistry().Seed(tt.ref, tt.digest)
		})
	}
}

func TestRegistryCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := NewClock(time.Time{})
	r := NewRegistry(WithClock(clk))
	_, _ = r.Push(ctx, testRepo+":abc", NewImage("x"))
	clk.Advance(time.Second)
	_, errMissing := r.Resolve(ctx, testRepo+":def")
	want := []Call{
		{Method: "Push", Arg: testRepo + ":abc", At: clk.Now().Add(-time.Second)},
		{Method: "Resolve", Arg: testRepo + ":def", Err: errMissing, At: clk.Now()},
	}
	if diff := cmp.Diff(want, r.Calls(), cmpopts.EquateErrors()); diff != "" {
		t.Errorf("Calls() mismatch (-want +got):\n%s", diff)
	}
}

func TestRegistryFuncs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	injected := fmt.Errorf("injected: %w", twostage.ErrNotFound)
	var pushNs, resolveNs []int
	var mu sync.Mutex
	r := NewRegistry(WithRegistryFuncs(RegistryFuncs{
		Push: func(ctx context.Context, n int, next registry.Registry, ref string, img v1.Image) (registry.Artifact, error) {
			mu.Lock()
			pushNs = append(pushNs, n)
			mu.Unlock()
			return next.Push(ctx, ref, img)
		},
		// The image "appears" only on the third Resolve, like a tag that
		// is still being pushed by CI.
		Resolve: func(ctx context.Context, n int, next registry.Registry, ref string) (registry.Artifact, error) {
			mu.Lock()
			resolveNs = append(resolveNs, n)
			mu.Unlock()
			if n < 3 {
				return registry.Artifact{}, injected
			}
			return next.Resolve(ctx, ref)
		},
	}))
	a, err := r.Push(ctx, testRepo+":abc", NewImage("x"))
	if err != nil {
		t.Fatal(err)
	}
	for i, wantErr := range []error{injected, injected, nil} {
		got, err := r.Resolve(ctx, testRepo+":abc")
		if err != wantErr {
			t.Fatalf("Resolve #%d error = %v, want %v", i+1, err, wantErr)
		}
		if err == nil && got != a {
			t.Errorf("Resolve #%d = %v, want %v", i+1, got, a)
		}
	}
	if diff := cmp.Diff([]int{1}, pushNs); diff != "" {
		t.Errorf("Push n mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, resolveNs); diff != "" {
		t.Errorf("Resolve n mismatch (-want +got):\n%s", diff)
	}
	// Calls record what the caller saw, once per call, not the hook's calls of next.
	var methods []string
	for _, c := range r.Calls() {
		methods = append(methods, fmt.Sprintf("%s %v", c.Method, c.Err != nil))
	}
	if diff := cmp.Diff([]string{"Push false", "Resolve true", "Resolve true", "Resolve false"}, methods); diff != "" {
		t.Errorf("Calls() mismatch (-want +got):\n%s", diff)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := NewRegistry()
	const goroutines = 8
	imgs := make([]v1.Image, goroutines)
	for i := range imgs {
		imgs[i] = NewImage(fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for j := range 20 {
				ref := fmt.Sprintf("%s:g%d-%d", testRepo, i, j)
				if _, err := r.Push(ctx, ref, imgs[i]); err != nil {
					t.Error(err)
				}
				if _, err := r.Push(ctx, testRepo+":shared", imgs[i]); err != nil {
					t.Error(err)
				}
				if _, err := r.Resolve(ctx, ref); err != nil {
					t.Error(err)
				}
				_ = r.Calls()
			}
		})
	}
	wg.Wait()
	a, err := r.Resolve(ctx, testRepo+":shared")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Image(a); !ok {
		t.Errorf("the shared tag resolves to %v, which has no image", a)
	}
	if got, want := len(r.Calls()), goroutines*20*3+1; got != want {
		t.Errorf("len(Calls()) = %d, want %d", got, want)
	}
}

func TestWithTag(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("c", 64)
	r := NewRegistry(WithTag(testRepo+":v1", d), WithTag(testRepo+":v2", d))
	for _, ref := range []string{testRepo + ":v1", testRepo + ":v2", testRepo + "@" + d} {
		a, err := r.Resolve(context.Background(), ref)
		if err != nil || a.Digest != d {
			t.Errorf("Resolve(%q) = %v, %v; want digest %s", ref, a, err, d)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("WithTag with a bad digest did not panic")
		}
	}()
	NewRegistry(WithTag(testRepo+":v1", "sha256:nope"))
}

func TestRegistryTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	img1, img2 := NewImage("one"), NewImage("two")
	tests := []struct {
		name      string
		immutable bool
		tag       string
		digestOf  v1.Image // the artifact tagged; nil: a digest never pushed
		wantErr   error
		wantV1    v1.Image // what ":v1" resolves to afterwards
	}{
		{name: "new tag", tag: "v2", digestOf: img1, wantV1: img1},
		{name: "same tag again is a no-op", tag: "v1", digestOf: img1, wantV1: img1},
		{name: "move a tag", tag: "v1", digestOf: img2, wantV1: img2},
		{name: "move an immutable tag", immutable: true, tag: "v1", digestOf: img2, wantErr: twostage.ErrConflict, wantV1: img1},
		{name: "same immutable tag again", immutable: true, tag: "v1", digestOf: img1, wantV1: img1},
		{name: "new tag when immutable", immutable: true, tag: "v2", digestOf: img2, wantV1: img1},
		{name: "digest not in the repository", tag: "v2", wantErr: twostage.ErrNotFound, wantV1: img1},
		{name: "bad tag", tag: "-v2", digestOf: img1, wantErr: twostage.ErrInvalid, wantV1: img1},
		{name: "tag with a digest", tag: "v2@sha256:00", digestOf: img1, wantErr: twostage.ErrInvalid, wantV1: img1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []RegistryOption
			if tt.immutable {
				opts = append(opts, WithImmutableTags())
			}
			r := NewRegistry(opts...)
			for ref, img := range map[string]v1.Image{testRepo + ":v1": img1, testRepo + ":other": img2} {
				if _, err := r.Push(ctx, ref, img); err != nil {
					t.Fatal(err)
				}
			}
			a := registry.Artifact{Repository: testRepo, Digest: "sha256:" + strings.Repeat("9", 64)}
			if tt.digestOf != nil {
				a.Digest = digestOf(t, tt.digestOf)
			}
			err := r.Tag(ctx, a, tt.tag)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Tag(%s, %q) = %v, want %v", a, tt.tag, err, tt.wantErr)
			}
			got, err := r.Resolve(ctx, testRepo+":v1")
			if err != nil {
				t.Fatal(err)
			}
			if want := digestOf(t, tt.wantV1); got.Digest != want {
				t.Errorf(":v1 resolves to %s, want %s", got.Digest, want)
			}
			if tt.wantErr == nil {
				got, err := r.Resolve(ctx, testRepo+":"+tt.tag)
				if err != nil || got != a {
					t.Errorf("Resolve(:%s) = %v, %v; want %v", tt.tag, got, err, a)
				}
			}
		})
	}
}

func TestRegistryImmutablePush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := NewRegistry(WithImmutableTags())
	a, err := r.Push(ctx, testRepo+":abc", NewImage("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Push(ctx, testRepo+":abc", NewImage("one")); err != nil {
		t.Errorf("pushing the same image again = %v, want success", err)
	}
	_, err = r.Push(ctx, testRepo+":abc", NewImage("rebuilt"))
	if !errors.Is(err, twostage.ErrConflict) || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("pushing another image to an immutable tag = %v, want ErrConflict saying tags are immutable", err)
	}
	if got, _ := r.Resolve(ctx, testRepo+":abc"); got != a {
		t.Errorf("the refused push moved the tag to %v", got)
	}
	r.Seed(testRepo+":abc", "sha256:"+strings.Repeat("1", 64)) // test helpers may
	if got, _ := r.Resolve(ctx, testRepo+":abc"); got == a {
		t.Error("Seed did not move the tag")
	}
}

func TestRegistryTagHook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ns []int
	r := NewRegistry(WithRegistryFuncs(RegistryFuncs{
		Tag: func(ctx context.Context, n int, next registry.Tagger, a registry.Artifact, tag string) error {
			ns = append(ns, n)
			if n == 1 {
				return fmt.Errorf("injected: %w", twostage.ErrConflict)
			}
			return next.Tag(ctx, a, tag)
		},
	}))
	a, err := r.Push(ctx, testRepo+":abc", NewImage("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, a, "v1"); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("first Tag = %v, want the injected conflict", err)
	}
	if err := r.Tag(ctx, a, "v1"); err != nil {
		t.Errorf("second Tag = %v", err)
	}
	if diff := cmp.Diff([]int{1, 2}, ns); diff != "" {
		t.Errorf("Tag n mismatch (-want +got):\n%s", diff)
	}
	calls := r.Calls()
	if got, want := calls[len(calls)-1].Arg, a.String()+" v1"; got != want {
		t.Errorf("Tag call Arg = %q, want %q", got, want)
	}
}
