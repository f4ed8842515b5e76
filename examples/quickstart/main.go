// Command quickstart tells the whole twostage story on in-memory fakes, with
// a readable timeline: two commits deployed to dev, release v1.0.0 deployed
// to prod with no traffic and promoted 5% → 25% → 100% behind a health
// gate, then release v1.1.0 whose gate fails at 5% and is rolled back
// automatically, in one traffic write.
//
// It needs no cloud account and finishes in milliseconds: time runs on a
// fake clock, so the 5-minute bake steps take no wall time.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

const repository = "europe-west1-docker.pkg.dev/acme/apps/api"

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run tells the story, writing the timeline to w.
func run(ctx context.Context, w io.Writer) error {
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	reg := fake.NewRegistry(fake.WithClock(clock))
	dev := fake.NewService("api-dev", fake.WithClock(clock))
	prod := fake.NewService("api-prod", fake.WithClock(clock))
	tl := &timeline{w: w, start: clock.Now()}

	// The prod service exists before the first release, as Terraform or the
	// console created it, serving a placeholder.
	placeholder, err := reg.Push(ctx, repository+":placeholder", fake.NewImage("placeholder"))
	if err != nil {
		return err
	}
	if _, err := prod.Deploy(ctx, stage.Release{Artifact: placeholder, Revision: "placeholder", Traffic: stage.RouteAll}); err != nil {
		return err
	}

	// Error rates the gate observes per revision: v1.1.0 is broken.
	health := &errorRates{rates: map[string]float64{}, requestsPerSecond: 200}
	p, err := pipeline.New(reg, repository, dev, prod,
		pipeline.WithClock(clock),
		pipeline.WithAudit(tl),
		pipeline.WithGates(health.gate(0.01)),
	)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "twostage quickstart: build once, promote by traffic (in-memory fakes, simulated clock)\n")
	fmt.Fprintf(w, "plan %s, gate: candidate error rate ≤ 1.0%%\n\n", traffic.DefaultPlan())

	commits := []string{
		"8f14e45fceea167a5a36dedd4bea2543c1f0a2b7",
		"c9f0f895fb98ab9159f51fd0297e236d0c1a4b2e",
		"45c48cce2e2d7fbdea1afc51c7c6ad26a1b6e3f9",
	}
	for _, sha := range commits[:2] {
		if _, err := p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Actor: "alice", Image: fake.NewImage(sha)}); err != nil {
			return err
		}
	}

	rel, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: commits[1], Actor: "alice"})
	if err != nil {
		return err
	}
	health.rates[rel.Revision.Name] = 0.001
	if _, err := p.Promote(ctx, pipeline.PromoteInput{Actor: "alice"}); err != nil {
		return err
	}

	if _, err := p.Dev(ctx, pipeline.DevInput{SHA: commits[2], Branch: "main", Actor: "bob", Image: fake.NewImage(commits[2])}); err != nil {
		return err
	}
	bad, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.1.0", SHA: commits[2], Actor: "bob"})
	if err != nil {
		return err
	}
	health.rates[bad.Revision.Name] = 0.04
	_, err = p.Promote(ctx, pipeline.PromoteInput{Actor: "bob"})
	var rerr *traffic.RolloutError
	if !errors.As(err, &rerr) || !errors.Is(err, traffic.ErrRolledBack) {
		return fmt.Errorf("v1.1.0 should have been rolled back, got %v", err)
	}

	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nfinal status\n%s", indent(st.String()))
	if got := st.Prod.Split; traffic.Shares(got)[rel.Revision.Name] != 100 {
		return fmt.Errorf("prod should serve v1.0.0 at 100%%, serves %s", got)
	}
	return nil
}

// errorRates models the requests each revision receives during a step and
// the errors it returns, deterministically: requests = rate × share × time.
type errorRates struct {
	requestsPerSecond float64
	rates             map[string]float64
}

// gate fails a step whose candidate error rate exceeds max.
func (e *errorRates) gate(limit float64) traffic.Gate {
	return traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
		requests := e.requestsPerSecond * float64(c.Percent) / 100 * c.Now.Sub(c.Since).Seconds()
		errs := requests * e.rates[c.Candidate]
		v := traffic.Verdict{Gate: "error-rate", Numbers: map[string]float64{"requests": requests, "errors": errs, "max_rate": limit}}
		switch rate := errs / max(requests, 1); {
		case requests < 100:
			v.Outcome, v.Reason = traffic.Inconclusive, fmt.Sprintf("only %.0f requests", requests)
		case rate > limit:
			v.Outcome, v.Reason = traffic.Fail, fmt.Sprintf("error rate %.1f%% > %.1f%% over %.0f requests", 100*rate, 100*limit, requests)
		default:
			v.Outcome, v.Reason = traffic.Pass, fmt.Sprintf("error rate %.1f%% ≤ %.1f%% over %.0f requests", 100*rate, 100*limit, requests)
		}
		return v, nil
	})
}

// timeline is an audit sink that prints each event as a line of the story.
type timeline struct {
	w     io.Writer
	start time.Time
}

func (t *timeline) Record(_ context.Context, e pipeline.Event) error {
	at := fmt.Sprintf("[+%s]", fmtDuration(e.Time.Sub(t.start)))
	switch e.Action {
	case pipeline.ActionDev:
		fmt.Fprintf(t.w, "%-10s dev      commit %s → %s (%s) serves 100%%\n", at, e.SHA[:7], e.Revision, short(e.Digest))
	case pipeline.ActionRelease:
		fmt.Fprintf(t.w, "%-10s release  %s (commit %s, %s) → %s at 0%%\n", at, e.Ref, e.SHA[:7], short(e.Digest), e.Revision)
		fmt.Fprintf(t.w, "%-10s          prod %s  →  %s\n", "", e.Before, e.After)
	case pipeline.ActionStep:
		fmt.Fprintf(t.w, "%-10s promote  step %d: %s %s at %d%%: %s\n", at, e.Step, e.Revision, e.Decision, e.Percent, e.After)
	case pipeline.ActionGate:
		for _, v := range e.Verdicts {
			fmt.Fprintf(t.w, "%-10s   gate   %s %s: %s\n", at, v.Gate, strings.ToUpper(string(v.Outcome)), v.Reason)
		}
	case pipeline.ActionRollback:
		fmt.Fprintf(t.w, "%-10s ROLLBACK step %d (%d%%): %s\n", at, e.Step, e.Percent, e.Reason)
		fmt.Fprintf(t.w, "%-10s          prod %s  →  %s  (one write)\n", "", e.Before, e.After)
	default:
		fmt.Fprintf(t.w, "%-10s %s %s: %s\n", at, e.Action, e.Decision, e.Reason)
	}
	return nil
}

func fmtDuration(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
