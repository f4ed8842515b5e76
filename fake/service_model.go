package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/names"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// The model of a [Service]: how deploys and traffic writes change its
// state, following Cloud Run.

// serviceCore is the Service without hooks and call recording: the next
// given to ServiceFuncs.
type serviceCore struct{ s *Service }

func (c serviceCore) Name() string { return c.s.name }

func (c serviceCore) Deploy(ctx context.Context, r stage.Release) (stage.Revision, error) {
	s := c.s
	what := fmt.Sprintf("deploying to service %q", s.name)
	if err := ctx.Err(); err != nil {
		return stage.Revision{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := s.validateRelease(r); err != nil {
		return stage.Revision{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := r.Overrides.Validate(); err != nil {
		return stage.Revision{}, fmt.Errorf("%s: release overrides: %w", what, err)
	}
	now := s.clock.Now() // outside the lock: the clock may be anything
	s.mu.Lock()
	defer s.mu.Unlock()
	name := revisionName(s.name, r.Revision)
	if name == "" {
		name = s.generatedNameLocked()
	}
	what = fmt.Sprintf("deploying revision %q to service %q", name, s.name)
	if !names.DNSLabel(name) {
		return stage.Revision{}, fmt.Errorf("%s: revision name %q is not valid: Cloud Run wants lower-case letters, digits and '-', starting with a letter, not ending with '-', at most 63 characters; shorten or fix the suffix: %w", what, name, twostage.ErrInvalid)
	}
	if r.Version != "" && r.Version != s.version {
		return stage.Revision{}, fmt.Errorf("%s: the release was decided on version %q of the service, which has moved on to %q since; read it again and decide again: %w", what, r.Version, s.version, twostage.ErrConflict)
	}
	if r.Traffic == stage.RouteNone && !s.exists {
		// gcloud: "--no-traffic not supported when creating a new service."
		// (quoted in google/exposure-notifications-server#360).
		return stage.Revision{}, fmt.Errorf("%s: service %q does not exist; deploy with traffic first (RouteAll) to create it: %w", what, s.name, twostage.ErrInvalid)
	}

	rev, adopt := s.byName[name]
	config := r.Overrides.Fingerprint()
	if adopt {
		// Cloud Run, unverified: a reused name with a different template is
		// ALREADY_EXISTS "Revision named '…' with different configuration
		// already exists."; the same template creates no new revision. The
		// template's identity here is the artifact, the release's labels
		// and its overrides.
		var diffs []string
		if rev.artifact != r.Artifact {
			diffs = append(diffs, fmt.Sprintf("it runs %s, this release %s", rev.artifact, r.Artifact))
		}
		if !maps.Equal(rev.reqLabels, r.Labels) {
			diffs = append(diffs, fmt.Sprintf("it has labels %v, this release %v", rev.reqLabels, r.Labels))
		}
		if rev.config != config {
			diffs = append(diffs, fmt.Sprintf("its overrides have fingerprint %q, this release's %q", rev.config, config))
		}
		if len(diffs) > 0 {
			return stage.Revision{}, fmt.Errorf("%s: Revision named '%s' with different configuration already exists (%s); deploy under a new revision name: %w",
				what, name, strings.Join(diffs, "; "), twostage.ErrConflict)
		}
		if !rev.ready {
			return s.revisionLocked(rev), notReady(what, rev)
		}
	} else {
		// Template preservation: the new revision inherits the live
		// template's settings, with the overrides applied and its labels
		// carried over as stage/cloudrun does ([stage.RevisionLabels]).
		settings := r.Overrides.ApplyTo(s.live)
		if err := stage.ValidateEffective(r.Overrides, settings); err != nil {
			return stage.Revision{}, fmt.Errorf("%s: %w", what, err)
		}
		settings.Labels = stage.RevisionLabels(s.live.Labels, r)
		if err := validateLabels(settings.Labels); err != nil {
			return stage.Revision{}, fmt.Errorf("%s: the revision's labels (the template's, the overrides' and the release's): %w", what, err)
		}
		rev = &revision{
			name:      name,
			artifact:  r.Artifact,
			labels:    maps.Clone(settings.Labels),
			reqLabels: maps.Clone(r.Labels),
			config:    config,
			settings:  settings,
			created:   now,
			ready:     true,
		}
		if reason, ok := s.failing[name]; ok {
			rev.ready, rev.reason = false, reason
		} else if s.readiness != nil {
			if err := s.readiness(r, name); err != nil {
				rev.ready, rev.reason, rev.cause = false, err.Error(), err
			}
		}
		if !rev.ready {
			// Cloud Run, unverified: the operation fails, terminal_condition
			// FAILED, latest_ready_revision unchanged; the revision exists.
			s.addLocked(rev)
			if !s.exists {
				s.exists = true
				s.targets = []traffic.Target{{Latest: true, Percent: 100}}
			}
			s.writeLocked(true)
			return s.revisionLocked(rev), notReady(what, rev)
		}
	}

	targets, err := s.routeLocked(r, name, adopt)
	if err != nil {
		return stage.Revision{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := traffic.Validate(traffic.Split{Targets: targets}, s.name); err != nil {
		return stage.Revision{}, fmt.Errorf("%s: %w", what, err)
	}
	changed := !adopt || !slices.Equal(s.targets, targets)
	if !adopt {
		s.addLocked(rev)
		s.latest = name
		s.live = rev.settings.Clone()
		s.tmpl = rev
	}
	s.exists = true
	s.targets = targets
	s.writeLocked(changed)
	return s.revisionLocked(rev), nil
}

// routeLocked returns the targets after deploying the ready revision name
// as r says; adopt says the revision exists already, so it is not about to
// become the latest. s.mu must be held.
func (s *Service) routeLocked(r stage.Release, name string, adopt bool) ([]traffic.Target, error) {
	moving := make(map[string]bool, len(r.Tags))
	for _, t := range r.Tags {
		moving[t] = true
	}
	var out []traffic.Target
	switch r.Traffic {
	case stage.RouteAll:
		// Cloud Run, unverified: "update-traffic --to-latest" is
		// [{LATEST, 100}] plus the tag-only entries kept. Tags of entries
		// that had traffic are kept as tag-only entries too (unverified),
		// as stage/cloudrun does. An adopted revision that is not the
		// latest is not reached by LATEST, so it is routed to by name.
		first := traffic.Target{Latest: true, Percent: 100}
		if adopt && s.latest != name {
			first = traffic.Target{Revision: name, Percent: 100}
		}
		out = append(out, first)
		for _, t := range s.targets {
			if t.Tag == "" || moving[t.Tag] {
				continue
			}
			t.Percent = 0
			out = append(out, t)
		}
	case stage.RouteNone:
		// Cloud Run, unverified: "--no-traffic" replaces the LATEST entry by
		// the current latest ready revision with the same percent and keeps
		// the tags. Adopting creates no revision, so LATEST entries keep
		// resolving where they did and need no pinning.
		for _, t := range s.targets {
			if t.Latest && !adopt {
				if s.latest == "" {
					return nil, fmt.Errorf("service %q has no ready revision to keep serving its LATEST traffic, so a no-traffic deploy cannot leave traffic where it is; deploy with traffic (RouteAll) first: %w", s.name, twostage.ErrInvalid)
				}
				t.Latest, t.Revision = false, s.latest
			}
			if moving[t.Tag] {
				t.Tag = ""
			}
			if t.Percent == 0 && t.Tag == "" {
				continue
			}
			out = append(out, t)
		}
	}
	for _, tag := range r.Tags {
		out = append(out, traffic.Target{Revision: name, Tag: tag})
	}
	return out, nil
}

func (c serviceCore) Split(ctx context.Context) (traffic.Split, error) {
	s := c.s
	if err := ctx.Err(); err != nil {
		return traffic.Split{}, fmt.Errorf("reading the traffic of service %q: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.exists {
		return traffic.Split{}, fmt.Errorf("reading the traffic of service %q: service does not exist; deploy with traffic (RouteAll) to create it: %w", s.name, twostage.ErrNotFound)
	}
	return s.splitLocked(), nil
}

func (c serviceCore) SetSplit(ctx context.Context, sp traffic.Split) (traffic.Split, error) {
	s := c.s
	what := fmt.Sprintf("setting the traffic of service %q", s.name)
	if err := ctx.Err(); err != nil {
		return traffic.Split{}, fmt.Errorf("%s: %w", what, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.exists {
		return traffic.Split{}, fmt.Errorf("%s: service does not exist; deploy with traffic (RouteAll) to create it: %w", what, twostage.ErrNotFound)
	}
	if sp.Version != "" && sp.Version != s.version {
		return traffic.Split{}, fmt.Errorf("%s: version %q is stale, the service moved on to %q since the split was read; read it again and decide again: %w", what, sp.Version, s.version, twostage.ErrConflict)
	}
	if err := traffic.Validate(sp, s.name); err != nil {
		return traffic.Split{}, fmt.Errorf("%s: %w", what, err)
	}
	for i, t := range sp.Targets {
		if t.Latest {
			continue
		}
		rev := s.byName[t.Revision]
		switch {
		case rev == nil:
			return traffic.Split{}, fmt.Errorf("%s: target %d: revision %q does not exist in service %q; name one listed by Revisions: %w", what, i+1, t.Revision, s.name, twostage.ErrInvalid)
		case !rev.ready && t.Percent > 0:
			// Cloud Run, unverified: Cloud Run fails the operation with
			// "Revision '…' is not ready and cannot serve traffic" and keeps
			// the traffic; bad input (ErrInvalid) about a revision that is
			// not ready (ErrNotReady), as stage/cloudrun reports it.
			return traffic.Split{}, fmt.Errorf("%s: target %d: Revision '%s' is not ready and cannot serve traffic (%s); route its %d%% elsewhere: %w: %w", what, i+1, t.Revision, rev.reason, t.Percent, twostage.ErrInvalid, twostage.ErrNotReady)
		}
	}
	var tmpl *revision
	if sp.Template != "" {
		tmpl = s.byName[revisionName(s.name, sp.Template)]
		switch {
		case tmpl == nil:
			return traffic.Split{}, fmt.Errorf("%s: template revision %q does not exist in service %q: %w", what, sp.Template, s.name, twostage.ErrInvalid)
		case !tmpl.ready:
			return traffic.Split{}, fmt.Errorf("%s: template revision %q is not ready: %w: %w", what, sp.Template, twostage.ErrInvalid, twostage.ErrNotReady)
		}
	}
	targets := slices.Clone(sp.Targets)
	if len(targets) == 0 {
		targets = []traffic.Target{{Latest: true, Percent: 100}}
	}
	changed := s.state != sp.State || !slices.Equal(s.targets, targets)
	if tmpl != nil && tmpl != s.tmpl {
		s.tmpl, s.live = tmpl, tmpl.settings.Clone()
		changed = true
	}
	s.targets = targets
	s.state = sp.State
	s.writeLocked(changed)
	return s.splitLocked(), nil
}

func (c serviceCore) Revisions(ctx context.Context) iter.Seq2[stage.Revision, error] {
	s := c.s
	s.mu.Lock()
	revs := make([]stage.Revision, 0, len(s.revs))
	for i := len(s.revs) - 1; i >= 0; i-- {
		revs = append(revs, s.revisionLocked(s.revs[i]))
	}
	s.mu.Unlock()
	return func(yield func(stage.Revision, error) bool) {
		for _, r := range revs {
			if err := ctx.Err(); err != nil {
				yield(stage.Revision{}, fmt.Errorf("listing the revisions of service %q: %w", s.name, err))
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// addLocked stores a new revision. s.mu must be held.
func (s *Service) addLocked(rev *revision) {
	s.revs = append(s.revs, rev)
	s.byName[rev.name] = rev
}

// writeLocked records a write, which changed the desired state if changed.
// s.mu must be held.
func (s *Service) writeLocked(changed bool) {
	if changed {
		s.generation++
	}
	s.writes++
	// An opaque etag that is never reused: the write count only grows.
	sum := sha256.Sum256([]byte(s.name + "\x00" + strconv.FormatInt(s.writes, 10)))
	s.version = hex.EncodeToString(sum[:8])
}

// splitLocked returns a copy of the current split. s.mu must be held.
func (s *Service) splitLocked() traffic.Split {
	return traffic.Split{
		Targets:        slices.Clone(s.targets),
		Version:        s.version,
		State:          s.state,
		LatestRevision: s.latest,
	}
}

// revisionLocked returns rev as a stage.Revision, with the tag URLs of the
// current split. s.mu must be held.
func (s *Service) revisionLocked(rev *revision) stage.Revision {
	out := stage.Revision{
		Name:     rev.name,
		Artifact: rev.artifact,
		Ready:    rev.ready,
		URL:      s.url,
		Created:  rev.created,
		Labels:   maps.Clone(rev.labels),
	}
	for _, t := range s.targets {
		if t.Tag == "" || !(t.Revision == rev.name || t.Latest && s.latest == rev.name) {
			continue
		}
		if out.TagURLs == nil {
			out.TagURLs = make(map[string]string)
		}
		out.TagURLs[t.Tag] = tagURL(s.url, t.Tag)
	}
	return out
}

// generatedNameLocked returns "<service>-NNNNN-xyz" for the next generation,
// the shape of Cloud Run's generated revision names ("hello-00028-fuf" in
// gcloud output quoted in google/exposure-notifications-server#356), with
// letters derived from the service name and generation so tests are
// deterministic. s.mu must be held.
func (s *Service) generatedNameLocked() string {
	gen := s.generation + 1
	for salt := 0; ; salt++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", s.name, gen, salt)))
		name := fmt.Sprintf("%s-%05d-%c%c%c", s.name, gen, 'a'+sum[0]%26, 'a'+sum[1]%26, 'a'+sum[2]%26)
		if _, taken := s.byName[name]; !taken {
			return name
		}
	}
}

// notReady is the error of a deploy whose revision rev is not ready, in
// the words of Cloud Run's failed operation (unverified:
// FAILED_PRECONDITION "Revision '…' is not ready and cannot serve
// traffic…").
func notReady(what string, rev *revision) error {
	msg := fmt.Sprintf("%s: Revision '%s' is not ready and cannot serve traffic.", what, rev.name)
	switch {
	case rev.cause != nil:
		return fmt.Errorf("%s %w: %w", msg, rev.cause, twostage.ErrNotReady)
	case rev.reason != "":
		return fmt.Errorf("%s %s: %w", msg, rev.reason, twostage.ErrNotReady)
	default:
		return fmt.Errorf("%s: %w", strings.TrimSuffix(msg, "."), twostage.ErrNotReady)
	}
}
