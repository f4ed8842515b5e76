package artifactregistry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/artifactregistry"
	"github.com/twostage/twostage/registry/oci"
	"github.com/twostage/twostage/registry/registrytest"
)

const repoName = "projects/my-project/locations/europe-west1/repositories/apps"

// newEmulator starts an emulator holding repo (a mutable DOCKER repository
// when nil) and returns it with a Registry wired to it.
func newEmulator(t testing.TB, repo *artifactregistrypb.Repository) (*artifactregistryfake.Server, *artifactregistry.Registry) {
	t.Helper()
	return newEmulatorOver(t, repo, false)
}

// newEmulatorOver is newEmulator whose Registry's API client speaks
// REST/JSON (WithREST) to the emulator's address when rest is set.
func newEmulatorOver(t testing.TB, repo *artifactregistrypb.Repository, rest bool) (*artifactregistryfake.Server, *artifactregistry.Registry) {
	t.Helper()
	if repo == nil {
		repo = &artifactregistrypb.Repository{Name: repoName, Format: artifactregistrypb.Repository_DOCKER}
	}
	srv, err := artifactregistryfake.NewServer(artifactregistryfake.WithRepository(repo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	opts := []artifactregistry.Option{
		artifactregistry.WithClientOptions(srv.ClientOptions()...),
		artifactregistry.WithHost(srv.RegistryHost()),
		artifactregistry.WithRegistryOptions(oci.WithInsecure()),
	}
	if rest {
		opts = append(opts, artifactregistry.WithREST(),
			artifactregistry.WithClientOptions(option.WithEndpoint("http://"+srv.Addr), option.WithoutAuthentication()))
	}
	reg, err := artifactregistry.New(t.Context(), repo.GetName(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return srv, reg
}

// TestConformance runs the Registry contract with the API client over
// gRPC and over REST/JSON (WithREST).
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, rest := range []bool{false, true} {
		t.Run(map[bool]string{false: "grpc", true: "rest"}[rest], func(t *testing.T) {
			t.Parallel()
			registrytest.Run(t, func(t *testing.T) (registry.Registry, string) {
				srv, reg := newEmulatorOver(t, nil, rest)
				return reg, srv.RegistryHost() + "/my-project/apps"
			})
		})
	}
}

func TestBuildPushResolve(t *testing.T) {
	t.Parallel()
	srv, reg := newEmulator(t, nil)
	img, err := registry.Build(t.Context(), nil, registry.BuildSpec{Files: map[string][]byte{"/app/v": []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	built, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	const sha = "4f2c1e0aa1b2c3d4e5f60718293a4b5c6d7e8f90"
	image := reg.Image("team/api")
	if _, err := reg.Push(t.Context(), image+":"+sha, img); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Resolve(t.Context(), image+":"+sha)
	if err != nil {
		t.Fatal(err)
	}
	want := registry.Artifact{Repository: srv.RegistryHost() + "/my-project/apps/team/api", Digest: built.String()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
	}
	if n := srv.Count("GetTag"); n != 1 {
		t.Errorf("GetTag called %d times, want 1 (Resolve goes through the API)", n)
	}
}

func TestResolveOutsideRepository(t *testing.T) {
	t.Parallel()
	srv, reg := newEmulator(t, nil)
	for _, ref := range []string{
		srv.RegistryHost() + "/other-project/apps/api:1",
		"europe-west1-docker.pkg.dev/my-project/apps/api:1", // another host
		srv.RegistryHost() + "/my-project/apps:1",           // no image
	} {
		if _, err := reg.Resolve(t.Context(), ref); !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), repoName) {
			t.Errorf("Resolve(%s) = %v, want ErrInvalid naming %s", ref, err, repoName)
		}
	}
}

func TestImmutableTags(t *testing.T) {
	t.Parallel()
	srv, reg := newEmulator(t, &artifactregistrypb.Repository{
		Name: repoName, Format: artifactregistrypb.Repository_DOCKER,
		FormatConfig: &artifactregistrypb.Repository_DockerConfig{DockerConfig: &artifactregistrypb.Repository_DockerRepositoryConfig{ImmutableTags: true}},
	})
	image := reg.Image("api")
	a1, err := reg.Push(t.Context(), image+":abc", registrytest.Image(t, "1"))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := reg.Push(t.Context(), image+":def", registrytest.Image(t, "2"))
	if err != nil {
		t.Fatal(err)
	}
	// Creating a tag is allowed, moving one is not.
	if err := reg.Tag(t.Context(), a1, "v1.0.0"); err != nil {
		t.Fatalf("Tag(v1.0.0): %v", err)
	}
	if err := reg.Tag(t.Context(), a2, "v1.0.0"); !errors.Is(err, twostage.ErrConflict) || status.Code(err) != codes.FailedPrecondition {
		t.Errorf("moving an immutable tag = %v, want ErrConflict with FAILED_PRECONDITION", err)
	}
	if _, err := reg.Push(t.Context(), image+":abc", registrytest.Image(t, "3")); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("pushing over an immutable tag = %v, want ErrConflict", err)
	}
	got, err := reg.Resolve(t.Context(), image+":v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a1, got); diff != "" {
		t.Errorf("Resolve(v1.0.0) mismatch (-want +got):\n%s", diff)
	}
	_ = srv
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	srv, reg := newEmulator(t, nil)
	ref := reg.Image("api") + ":abc"
	if _, err := reg.Push(t.Context(), ref, registrytest.Image(t, "e")); err != nil {
		t.Fatal(err)
	}
	const getTag = "/google.devtools.artifactregistry.v1.ArtifactRegistry/GetTag"
	srv.InjectError(getTag, status.Error(codes.PermissionDenied, "Permission 'artifactregistry.tags.get' denied"), 1)
	_, err := reg.Resolve(t.Context(), ref)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "roles/artifactregistry.reader") || !strings.Contains(err.Error(), repoName) {
		t.Errorf("Resolve with permission denied = %v, want PERMISSION_DENIED naming the role and the repository", err)
	}
	if errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("a permission error must not wrap ErrNotFound: %v", err)
	}
}

// TestAwaitThroughEmulator: a release waits for the tag the build pushes.
func TestAwaitThroughEmulator(t *testing.T) {
	t.Parallel()
	_, reg := newEmulator(t, nil)
	ref := reg.Image("api") + ":4f2c1e0"
	img := registrytest.Image(t, "await")
	clock := &pushingClock{now: time.Unix(0, 0)}
	clock.at = func() {
		if _, err := reg.Push(t.Context(), ref, img); err != nil {
			t.Errorf("Push: %v", err)
		}
	}
	got, err := registry.Await(t.Context(), reg, ref, registry.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if got.Digest != d.String() {
		t.Errorf("Await digest = %s, want %s", got.Digest, d)
	}
	if el := clock.now.Sub(time.Unix(0, 0)); el < 2*time.Second || el > 3*time.Second {
		t.Errorf("noticed at t=%s on the simulated clock, want within 1s of the push at t=2s", el)
	}
}

// pushingClock is a simulated clock that runs at once when it first
// reaches t=2s.
type pushingClock struct {
	now time.Time
	at  func()
}

func (c *pushingClock) Now() time.Time { return c.now }

func (c *pushingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	if c.at != nil && !c.now.Before(time.Unix(2, 0)) {
		c.at()
		c.at = nil
	}
	return ctx.Err()
}

func TestCheck(t *testing.T) {
	t.Parallel()
	docker := artifactregistrypb.Repository_DOCKER
	immutable := &artifactregistrypb.Repository_DockerConfig{DockerConfig: &artifactregistrypb.Repository_DockerRepositoryConfig{ImmutableTags: true}}
	tagged, untagged := artifactregistrypb.CleanupPolicyCondition_TAGGED, artifactregistrypb.CleanupPolicyCondition_UNTAGGED
	del := func(state artifactregistrypb.CleanupPolicyCondition_TagState, prefixes ...string) *artifactregistrypb.CleanupPolicy {
		return &artifactregistrypb.CleanupPolicy{
			Action: artifactregistrypb.CleanupPolicy_DELETE,
			ConditionType: &artifactregistrypb.CleanupPolicy_Condition{Condition: &artifactregistrypb.CleanupPolicyCondition{
				TagState: &state, TagPrefixes: prefixes, OlderThan: durationpb.New(30 * 24 * time.Hour),
			}},
		}
	}
	tests := []struct {
		name string
		repo *artifactregistrypb.Repository
		want []string // "severity check substring"
	}{
		{"good", &artifactregistrypb.Repository{Name: repoName, Format: docker, FormatConfig: immutable,
			CleanupPolicies: map[string]*artifactregistrypb.CleanupPolicy{"untagged": del(untagged), "old-rc": del(tagged, "rc-")}}, nil},
		{"mutable tags", &artifactregistrypb.Repository{Name: repoName, Format: docker}, []string{"warning immutable-tags"}},
		{"wrong format", &artifactregistrypb.Repository{Name: repoName, Format: artifactregistrypb.Repository_NPM}, []string{"error format NPM"}},
		{"deletes tagged", &artifactregistrypb.Repository{Name: repoName, Format: docker, FormatConfig: immutable,
			CleanupPolicies: map[string]*artifactregistrypb.CleanupPolicy{"delete-old": del(tagged), "hex": del(tagged, "v", "4f")}},
			[]string{`warning cleanup-policy "delete-old"`, `warning cleanup-policy "hex"`}},
		{"dry run", &artifactregistrypb.Repository{Name: repoName, Format: docker, FormatConfig: immutable, CleanupPolicyDryRun: true,
			CleanupPolicies: map[string]*artifactregistrypb.CleanupPolicy{"delete-old": del(tagged)}},
			[]string{`info cleanup-policy "delete-old"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, reg := newEmulator(t, tt.repo)
			findings, err := reg.Check(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) != len(tt.want) {
				t.Fatalf("Check = %q, want %d findings like %q", findings, len(tt.want), tt.want)
			}
			for i, f := range findings {
				sev, rest, _ := strings.Cut(tt.want[i], " ")
				check, sub, _ := strings.Cut(rest, " ")
				if string(f.Severity) != sev || f.Check != check || !strings.Contains(f.Message, sub) || !strings.Contains(f.Message, repoName) {
					t.Errorf("finding %d = %q, want severity %s, check %s, mentioning %q and %s", i, f, sev, check, sub, repoName)
				}
			}
		})
	}
	t.Run("missing repository", func(t *testing.T) {
		t.Parallel()
		srv, _ := newEmulator(t, nil)
		missing := "projects/my-project/locations/europe-west1/repositories/nope"
		reg, err := artifactregistry.New(t.Context(), missing,
			artifactregistry.WithClientOptions(srv.ClientOptions()...), artifactregistry.WithRegistryOptions(oci.WithInsecure()))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		findings, err := reg.Check(t.Context())
		if err != nil || len(findings) != 1 || !findings[0].Severity.Blocking() || !strings.Contains(findings[0].Message, missing) {
			t.Errorf("Check of a missing repository = %q, %v; want one blocking finding naming %s", findings, err, missing)
		}
	})
}

func TestNewRejectsBadRepository(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "projects/p/repositories/r", "projects/p/locations/l/repositories/", "my-project/apps"} {
		if _, err := artifactregistry.New(t.Context(), name, artifactregistry.WithRegistryOptions()); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("New(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	_, reg := newEmulator(b, nil)
	ref := reg.Image("api") + ":4f2c1e0"
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

// A transient GetTag failure is retried with backoff on the injected clock;
// a permanent one is not.
func TestResolveRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	repo := &artifactregistrypb.Repository{Name: repoName, Format: artifactregistrypb.Repository_DOCKER}
	srv, err := artifactregistryfake.NewServer(artifactregistryfake.WithRepository(repo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	clock := fake.NewClock(time.Time{})
	reg, err := artifactregistry.New(t.Context(), repoName,
		artifactregistry.WithClientOptions(srv.ClientOptions()...),
		artifactregistry.WithHost(srv.RegistryHost()),
		artifactregistry.WithRegistryOptions(oci.WithInsecure()),
		artifactregistry.WithClock(clock), artifactregistry.WithRetry(twostage.Retry{Attempts: 3}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	img, err := registry.Build(t.Context(), nil, registry.BuildSpec{Files: map[string][]byte{"/app/v": []byte("retry")}})
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := reg.Push(t.Context(), reg.Image("api")+":abc1234", img)
	if err != nil {
		t.Fatal(err)
	}
	const getTag = "/google.devtools.artifactregistry.v1.ArtifactRegistry/GetTag"
	srv.InjectError(getTag, status.Error(codes.Unavailable, "try again"), 2)
	got, err := reg.Resolve(t.Context(), reg.Image("api")+":abc1234")
	if err != nil || got != pushed {
		t.Fatalf("Resolve after two blips = %v, %v; want %v", got, err, pushed)
	}
	if n := len(clock.Sleeps()); n != 2 {
		t.Errorf("slept %d times, want 2 (one per retry)", n)
	}
	srv.InjectError(getTag, status.Error(codes.Unavailable, "down"), 3)
	if _, err := reg.Resolve(t.Context(), reg.Image("api")+":abc1234"); status.Code(err) != codes.Unavailable {
		t.Errorf("Resolve after 3 failures of 3 attempts: err = %v, want UNAVAILABLE kept", err)
	}
	if _, err := artifactregistry.New(t.Context(), repoName, artifactregistry.WithClock(clock), artifactregistry.WithRetry(twostage.Retry{Attempts: -1}), artifactregistry.WithRegistryOptions(oci.WithInsecure())); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("WithRetry(-1): err = %v, want ErrInvalid", err)
	}
}
