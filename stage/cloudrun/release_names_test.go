package cloudrun_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// A 45-character prod service, release tag v1.4.2 on a full 40-character
// SHA: the derived revision name is valid; re-running the deploy adopts the
// revision; another image under the same name is refused with an error
// that keeps Cloud Run's ALREADY_EXISTS.
func TestLongServiceReleaseNames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const short = "payments-ledger-reconciliation-service-prod01" // 45 characters
	if len(short) != 45 {
		t.Fatalf("service name is %d characters", len(short))
	}
	srv, err := cloudrunfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	svc, err := cloudrun.New(ctx, "projects/p/locations/europe-west1/services/"+short,
		cloudrun.WithClientOptions(srv.ClientOptions()...), cloudrun.WithClock(fake.NewClock(time.Time{})),
		cloudrun.WithRetry(twostage.Retry{Attempts: 3}), cloudrun.WithJitter(func() float64 { return 0 }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	art := func(c string) registry.Artifact {
		return registry.Artifact{Repository: "europe-west1-docker.pkg.dev/p/apps/api", Digest: "sha256:" + strings.Repeat(c, 64)}
	}
	if _, err := svc.Deploy(ctx, stage.Release{Artifact: art("a"), Revision: "placeholder", Traffic: stage.RouteAll}); err != nil {
		t.Fatal(err)
	}
	sha := "0123456789abcdef0123456789abcdef01234567"
	suffix, err := stage.ReleaseSuffix("v1.4.2", sha)
	if err != nil {
		t.Fatal(err)
	}
	rel := stage.Release{Artifact: art("b"), Revision: suffix, Traffic: stage.RouteNone}
	first, err := svc.Deploy(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if n := first.Name; len(n) > 63 || stage.ValidateRevisionName(n) != nil || !strings.HasPrefix(n, short+"-") || !strings.HasSuffix(n, "-0123456") {
		t.Fatalf("revision name %q (%d characters) is not a valid name of the service ending in the short SHA", n, len(n))
	}
	revisions := len(srv.Revisions("projects/p/locations/europe-west1/services/" + short))

	again, err := svc.Deploy(ctx, rel)
	if err != nil || again.Name != first.Name {
		t.Fatalf("re-run: %v, %q; want the same revision %q and no error", err, again.Name, first.Name)
	}
	if got := len(srv.Revisions("projects/p/locations/europe-west1/services/" + short)); got != revisions {
		t.Errorf("re-run made %d revisions, want %d", got, revisions)
	}

	other := rel
	other.Artifact = art("c")
	_, err = svc.Deploy(ctx, other)
	if !errors.Is(err, twostage.ErrConflict) || status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), first.Name) {
		t.Errorf("another image under %s: err = %v (code %v), want ErrConflict keeping ALREADY_EXISTS and naming the revision", first.Name, err, status.Code(err))
	}
}

// A revision that fails to start leaves prod traffic as it was and
// surfaces ErrNotReady with the API's message.
func TestFailingRevisionLeavesTrafficUntouched(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newEnv(t, []cloudrunfake.Option{cloudrunfake.WithFailingImage("europe-west1-docker.pkg.dev/p/apps/api@sha256:"+strings.Repeat("d", 64), "container failed to listen on PORT=8080")})
	art := func(c string) registry.Artifact {
		return registry.Artifact{Repository: "europe-west1-docker.pkg.dev/p/apps/api", Digest: "sha256:" + strings.Repeat(c, 64)}
	}
	if _, err := e.svc.Deploy(ctx, stage.Release{Artifact: art("a"), Revision: "stable", Traffic: stage.RouteAll}); err != nil {
		t.Fatal(err)
	}
	before, err := e.svc.Split(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Deploy(ctx, stage.Release{Artifact: art("d"), Revision: "v2-0-0-ddddddd", Traffic: stage.RouteNone, Tags: []string{"candidate"}})
	if !errors.Is(err, twostage.ErrNotReady) || !strings.Contains(err.Error(), "container failed to listen on PORT=8080") {
		t.Fatalf("err = %v, want ErrNotReady with the emulator's message", err)
	}
	after, err := e.svc.Split(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !traffic.Equal(before, after) || after.LatestRevision != before.LatestRevision {
		t.Errorf("traffic changed: %s (latest %s) → %s (latest %s)", before, before.LatestRevision, after, after.LatestRevision)
	}
}
