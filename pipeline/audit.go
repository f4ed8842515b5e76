package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twostage/twostage/traffic"
)

// AuditAction names what an audit event records.
type AuditAction string

// Actions recorded by the pipeline.
const (
	ActionDev      AuditAction = "dev.deploy"
	ActionRelease  AuditAction = "release.deploy"
	ActionStep     AuditAction = "promote.step"
	ActionGate     AuditAction = "promote.gate"
	ActionRollback AuditAction = "rollback"
	ActionPause    AuditAction = "promote.pause"
	ActionRefused  AuditAction = "policy.refused"
	ActionPrune    AuditAction = "prune"
)

// AuditEvent is one audit record: who did what to which artifact where, the
// traffic before and after, and the decision with the numbers behind it.
// Each event names its revision's commit, digest and ref, so the trail
// answers "which image served how much traffic when" without a join.
type AuditEvent struct {
	Time   time.Time
	Action AuditAction
	// Actor is who asked (for example GITHUB_ACTOR); empty if unknown.
	Actor string
	// Ref is the branch or tag; SHA the commit; Digest the image digest,
	// all of Revision. On rollout events (promote.*, rollback) they are read
	// from the revision: Ref is its twostage-ref label, the tag as a label
	// value ("v1-4-2").
	Ref, SHA, Digest string
	// Stage is "dev" or "prod".
	Stage string
	// Revision is the revision acted on (a rollout's candidate).
	Revision string
	// Stable and StableDigest name the revision a rollout started from, to
	// which a rollback sends the traffic, and its image; empty outside a
	// rollout.
	Stable, StableDigest string
	// Before and After are the traffic splits around the action, in
	// traffic.Split.String form. An action that wrote no traffic (a gate
	// verdict, a rollback with nothing to undo) has both equal to the
	// traffic it saw; a release refused before it read any has both empty.
	Before, After string
	// Decision is the outcome: "deployed", "adopted" (nothing was pushed
	// or created: the revision existed already), "refused", "pass", "fail",
	// "inconclusive", "advanced", "watching", "resumed", "rolled back",
	// "unchanged" (a rollback found the stable revision serving already,
	// or a prune had nothing to delete), "succeeded", "paused", "deleted"
	// (a prune deleted revisions, named in Reason).
	Decision string
	// Reason explains the decision in one line.
	Reason string
	// Step and Percent locate a rollout event.
	Step, Percent int
	// Verdicts are the gate verdicts with their numbers.
	Verdicts []traffic.Verdict
}

// auditSplit renders sp for an audit event, with LATEST resolved to the
// revision it reaches, so the event names what served.
func auditSplit(sp traffic.Split) string {
	if sp.LatestRevision != "" {
		if pinned, err := traffic.Pin(sp, sp.LatestRevision); err == nil {
			return pinned.String()
		}
	}
	return sp.String()
}

// Sink receives audit events. Implementations must be safe for concurrent
// use. An error from Record is reported to the caller of the action, joined
// with the action's own result.
type Sink interface {
	Record(ctx context.Context, e AuditEvent) error
}

// SlogSink writes each event as one structured log record at Info level.
// It is the default sink, with the pipeline's logger.
type SlogSink struct {
	Logger *slog.Logger
}

// Record logs e.
func (s SlogSink) Record(ctx context.Context, e AuditEvent) error {
	if s.Logger == nil {
		return nil
	}
	attrs := []any{
		"action", string(e.Action), "actor", e.Actor, "ref", e.Ref, "sha", e.SHA,
		"digest", e.Digest, "stage", e.Stage, "revision", e.Revision,
		"before", e.Before, "after", e.After, "decision", e.Decision, "reason", e.Reason,
	}
	if e.Stable != "" {
		attrs = append(attrs, "stable", e.Stable, "stable_digest", e.StableDigest)
	}
	if e.Step > 0 {
		attrs = append(attrs, "step", e.Step, "percent", e.Percent)
	}
	for _, v := range e.Verdicts {
		attrs = append(attrs, slog.Group("gate."+v.Gate, "outcome", string(v.Outcome), "reason", v.Reason, "numbers", v.Numbers))
	}
	s.Logger.InfoContext(ctx, "audit", attrs...)
	return nil
}

// EventLog is an in-memory Sink that keeps every event, for tests and for
// printing a timeline. The zero value is ready to use.
type EventLog struct {
	mu     sync.Mutex // guards events
	events []AuditEvent
}

// Record appends e.
func (l *EventLog) Record(_ context.Context, e AuditEvent) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return nil
}

// Events returns a copy of the events recorded so far, oldest first.
func (l *EventLog) Events() []AuditEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]AuditEvent(nil), l.events...)
}

// multiSink fans out to several sinks.
type multiSink []Sink

func (m multiSink) Record(ctx context.Context, e AuditEvent) error {
	var errs []error
	for _, s := range m {
		if err := s.Record(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrs(errs)
}
