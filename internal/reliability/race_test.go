package reliability

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/traffic"
)

const racers = 8

// TestConcurrentSetSplitNoLostUpdate has 8 runners read prod's split at the
// same version and then all write a different split conditional on it:
// exactly one write wins, the 7 losers get twostage.ErrConflict with a
// message naming the service and the stale version, and the final split is
// the winner's.
func TestConcurrentSetSplitNoLostUpdate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newRunEnv(t)
	if err := promoteSetup(ctx, e); err != nil {
		t.Fatalf("setup: %v", err)
	}
	// Every runner is its own process: its own Service with its own cache.
	read := make(chan struct{})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // guards won, losers
		won     []traffic.Split
		losers  []error
		barrier sync.WaitGroup
	)
	barrier.Add(racers)
	for i := range racers {
		svc := e.newProd(t)
		wg.Go(func() {
			sp, err := svc.Split(ctx)
			barrier.Done()
			if err != nil {
				t.Errorf("runner %d: Split: %v", i, err)
				return
			}
			<-read // all have read the same version
			next, err := traffic.SetTag(sp, fmt.Sprintf("runner%d", i), "api-v1-0-0-1111111")
			if err != nil {
				t.Errorf("runner %d: SetTag: %v", i, err)
				return
			}
			got, err := svc.SetSplit(ctx, next)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				losers = append(losers, err)
				return
			}
			won = append(won, got)
		})
	}
	barrier.Wait()
	close(read)
	wg.Wait()
	if len(won) != 1 || len(losers) != racers-1 {
		t.Fatalf("%d writes won and %d lost; want exactly 1 winner and %d losers", len(won), len(losers), racers-1)
	}
	for _, err := range losers {
		msg := err.Error()
		if !errors.Is(err, twostage.ErrConflict) || !strings.Contains(msg, `"api"`) && !strings.Contains(msg, "services/api") || !strings.Contains(msg, "etag") && !strings.Contains(msg, "version") {
			t.Errorf("loser's error = %v; want ErrConflict naming the service and the stale etag", err)
		}
	}
	final, err := e.prod.Split(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(won[0].Targets, final.Targets); diff != "" {
		t.Errorf("final split is not the winner's: a lost update (-winner +final):\n%s", diff)
	}
	if err := e.chk.Err(); err != nil {
		t.Errorf("invariants violated:\n%v", err)
	}
}

// TestConcurrentPipelines runs 8 pipelines (separate runners on the same
// dev and prod services) at once: two dev deploys of different commits,
// two releases of different tags and four promotions of the release under
// way. Every action either succeeds or fails with twostage.ErrConflict
// naming what it lost to; the invariants hold after every call; no
// revision is lost or duplicated; and a promotion run afterwards finishes
// the rollout.
func TestConcurrentPipelines(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newRunEnv(t)
	if err := promoteSetup(ctx, e); err != nil { // v1.0.0 serves, v1.1.0 released
		t.Fatalf("setup: %v", err)
	}
	const sha5, sha6 = "5555555555555555555555555555555555555555", "6666666666666666666666666666666666666666"
	for _, sha := range []string{sha5, sha6} {
		if _, err := e.p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Image: image(sha)}); err != nil {
			t.Fatal(err)
		}
	}
	e.expect(false)
	const candidate = "api-v1-1-0-2222222"
	type action struct {
		name string
		run  func(ctx context.Context, p *pipeline.Pipeline) error
	}
	actions := []action{
		{"dev sha3", func(ctx context.Context, p *pipeline.Pipeline) error {
			_, err := p.Dev(ctx, pipeline.DevInput{SHA: "3333333333333333333333333333333333333333", Branch: "main", Image: image("3")})
			return err
		}},
		{"dev sha4", func(ctx context.Context, p *pipeline.Pipeline) error {
			_, err := p.Dev(ctx, pipeline.DevInput{SHA: "4444444444444444444444444444444444444444", Branch: "main", Image: image("4")})
			return err
		}},
		{"release v1.2.0", func(ctx context.Context, p *pipeline.Pipeline) error {
			_, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.2.0", SHA: sha5})
			return err
		}},
		{"release v1.3.0", func(ctx context.Context, p *pipeline.Pipeline) error {
			_, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.3.0", SHA: sha6})
			return err
		}},
	}
	for i := range racers - len(actions) {
		actions = append(actions, action{fmt.Sprint("promote ", i), func(ctx context.Context, p *pipeline.Pipeline) error {
			_, err := p.Promote(ctx, pipeline.PromoteInput{Revision: candidate})
			return err
		}})
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, len(actions))
	)
	for i, a := range actions {
		p := e.runner(t) // its own pipeline, stages and caches
		wg.Go(func() {
			<-start
			errs[i] = a.run(ctx, p)
		})
	}
	close(start)
	wg.Wait()
	conflicts := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, twostage.ErrConflict):
			conflicts++
			t.Logf("%s lost: %v", actions[i].name, err)
			if msg := err.Error(); !strings.Contains(msg, "etag") && !strings.Contains(msg, "version") && !strings.Contains(msg, "rollout of") {
				t.Errorf("%s lost with %v; the message should say what changed (the etag, or the rollout under way)", actions[i].name, err)
			}
		default:
			t.Errorf("%s: %v; want success or ErrConflict", actions[i].name, err)
		}
	}
	t.Logf("%d actions, %d lost with ErrConflict", len(actions), conflicts)

	// Whatever won, a promotion run now finishes the rollout.
	if _, err := e.p.Promote(ctx, pipeline.PromoteInput{Revision: candidate}); err != nil {
		t.Fatalf("promotion after the race: %v", err)
	}
	s := e.snapshot()
	if s.ProdServing[candidate] != 100 || s.Rollout.Phase != traffic.Succeeded {
		t.Errorf("prod after the race = %v, rollout %s %s; want %s at 100%% and Succeeded", s.ProdServing, s.Rollout.Candidate, s.Rollout.Phase, candidate)
	}
	// Every dev deploy that succeeded left its revision; dev serves the
	// last one to win at 100% (or, if both lost, the one before).
	var devWon []string
	for i, err := range errs {
		if err == nil && strings.HasPrefix(actions[i].name, "dev ") {
			digit := strings.TrimPrefix(actions[i].name, "dev sha") // "dev sha3" deploys commit 333…
			devWon = append(devWon, "api-dev-"+strings.Repeat(digit, 7))
		}
	}
	for _, rev := range devWon {
		if !containsPrefix(s.DevRevisions, rev) {
			t.Errorf("dev revisions %v lack %s, whose deploy succeeded: a lost update", s.DevRevisions, rev)
		}
	}
	want := devWon
	if len(want) == 0 {
		want = []string{"api-dev-6666666"}
	}
	for rev, p := range s.DevServing {
		if p != 100 || !slices.Contains(want, rev) {
			t.Errorf("dev serves %s at %d%%; want one of %v at 100%%", rev, p, want)
		}
	}
	for i, err := range errs {
		if err == nil && strings.HasPrefix(actions[i].name, "release ") {
			rev := "api-" + strings.ReplaceAll(strings.TrimPrefix(actions[i].name, "release "), ".", "-")
			if !containsPrefix(s.ProdRevisions, rev) {
				t.Errorf("%s succeeded but prod has no revision %s*: %v", actions[i].name, rev, s.ProdRevisions)
			}
		}
	}
	if err := e.chk.Err(); err != nil {
		t.Errorf("invariants violated:\n%v", err)
	}
}

func containsSuffix(names []string, suffix string) bool {
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

func containsPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
