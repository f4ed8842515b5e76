package pipeline_test

import (
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
)

// TestFirstReleaseAuditSaysWhoServes: the event of a release that creates
// the prod service names the revision serving 100%, not "LATEST=100%" beside
// a 0% entry of the same revision (issue 15.14).
func TestFirstReleaseAuditSaysWhoServes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	log := &pipeline.EventLog{}
	p, err := pipeline.New(fake.NewRegistry(), "europe-west1-docker.pkg.dev/acme/apps/api", fake.NewService("api-dev"), fake.NewService("api-prod"),
		pipeline.WithCreateProd(), pipeline.WithAudit(log), pipeline.WithClock(fake.NewClock(time.Time{})))
	if err != nil {
		t.Fatal(err)
	}
	const sha = "c9f0f895fb98ab9159f51fd0297e236d0c1a4b2e"
	if _, err := p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: fake.NewImage("build")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: sha}); err != nil {
		t.Fatal(err)
	}
	var after string
	for _, e := range log.Events() {
		if e.Stage == "prod" && e.Decision == "deployed" {
			after = e.After
		}
	}
	if want := "api-prod-v1-0-0-c9f0f89=100%[stable]"; after != want {
		t.Errorf("first release's audit After = %q, want %q", after, want)
	}
}
