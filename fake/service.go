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
	"sync"
	"time"

	"github.com/twostage/twostage/internal/names"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Service is an in-memory Cloud Run service: a [stage.Stage] that creates
// revisions, a [traffic.Router] over its traffic split, a [stage.Lister] of
// its revisions, a [stage.Getter] of one, a [stage.Namer] and a
// [stage.Drifter] over the settings of its revision template (seeded with
// [WithTemplate], changed by deploys' overrides and by
// [Service.SetLiveSettings]). Create one with [NewService]; like a
// Cloud Run service updated with allow_missing, it comes into existence with
// its first [stage.RouteAll] deploy. Service is safe for concurrent use.
//
// Every successful Deploy and SetSplit is a write and issues a new, never
// reused Version (the etag), even when nothing changed; the generation
// grows only when the desired state changes: a revision is created, the
// latest revision, the targets or the State change (runpb
// Service.generation: "A number that monotonically increases every time the
// user modifies the desired state"). A refused call changes neither; a
// deploy whose revision is not ready is a write, since the revision now
// exists.
type Service struct {
	name      string                            // read-only
	funcs     ServiceFuncs                      // set by options, read-only afterwards
	clock     twostage.Clock                    // set by options, read-only afterwards
	url       string                            // set by options, read-only afterwards
	readiness func(stage.Release, string) error // set by options, read-only afterwards
	seed      []stage.Release                   // set by options, deployed by NewService

	mu         sync.Mutex           // guards every field below
	exists     bool                 // created by a first RouteAll deploy
	revs       []*revision          // creation order, oldest first
	byName     map[string]*revision // the same revisions by name
	latest     string               // latest ready revision, "" if none
	targets    []traffic.Target     // never empty once exists
	state      string               // traffic.Split.State
	version    string               // etag; "" until the service exists
	generation int64                // number of changes of the desired state
	writes     int64                // number of writes so far; seeds version
	failing    map[string]string    // FailRevision: revision name → reason
	live       stage.Overrides      // the template's settings, which the next deploy inherits
	calls      []Call               // every call, in return order
	n          [numMethods]int      // calls of each method so far
}

// revision is one stored revision; immutable once created.
type revision struct {
	name      string
	artifact  registry.Artifact
	labels    map[string]string // all its labels: the template's and the release's
	reqLabels map[string]string // the release's labels, part of its identity
	config    string            // the release's Overrides.Fingerprint, part of its identity
	settings  stage.Overrides   // the template settings it was created with
	created   time.Time
	ready     bool
	reason    string // why it is not ready
	cause     error  // the readiness error, if any
}

// ServiceBackend is everything a [Service] implements: the type of the next
// given to [ServiceFuncs].
type ServiceBackend interface {
	stage.Stage
	traffic.Router
	stage.Lister
	stage.Namer
}

var (
	_ stage.Stage    = (*Service)(nil)
	_ traffic.Router = (*Service)(nil)
	_ stage.Lister   = (*Service)(nil)
	_ stage.Namer    = (*Service)(nil)
	_ stage.Getter   = (*Service)(nil)
	_ stage.Drifter  = (*Service)(nil)
	_ ServiceBackend = (*Service)(nil)
)

// ServiceFuncs are optional fault hooks for a [Service]. A nil function
// passes the call through; a non-nil one is called instead, with n, the
// 1-based number of calls of that method so far (this one included), and
// next, the service without hooks, whose calls are not recorded in
// [Service.Calls]. Hooks run with no lock held, so they may call next (for
// example to let another writer win a race before the call proceeds).
type ServiceFuncs struct {
	// Deploy intercepts [Service.Deploy].
	Deploy func(ctx context.Context, n int, next ServiceBackend, r stage.Release) (stage.Revision, error)
	// Split intercepts [Service.Split].
	Split func(ctx context.Context, n int, next ServiceBackend) (traffic.Split, error)
	// SetSplit intercepts [Service.SetSplit].
	SetSplit func(ctx context.Context, n int, next ServiceBackend, s traffic.Split) (traffic.Split, error)
	// Revisions intercepts [Service.Revisions].
	Revisions func(ctx context.Context, n int, next ServiceBackend) iter.Seq2[stage.Revision, error]
}

// ServiceState is a deep copy of a Service's state, from [Service.Snapshot].
type ServiceState struct {
	// Exists reports whether the service has been created.
	Exists bool
	// Split is the current split, with Version, State and LatestRevision;
	// the zero Split when the service does not exist.
	Split traffic.Split
	// Revisions are all revisions, ready or not, newest first.
	Revisions []stage.Revision
	// Generation counts the changes of the desired state so far (Cloud
	// Run's Service.generation); a write that changes nothing keeps it.
	Generation int64
	// Live is the settings of the service's revision template, which the
	// next deploy inherits (see [Service.LiveSettings]).
	Live stage.Overrides
}

const (
	mDeploy = iota
	mSplit
	mSetSplit
	mRevisions
	mRevision
	mDrift
	numMethods
)

// NewService returns a service named name that does not exist yet. name
// must be a valid Cloud Run service name (a DNS label of at most 49
// characters); NewService panics otherwise, as on any programmer error.
func NewService(name string, opts ...ServiceOption) *Service {
	if !names.DNSLabel(name) || len(name) > maxServiceName {
		panic(fmt.Sprintf("fake: NewService(%q): a service name is lower-case letters, digits and '-', starting with a letter, not ending with '-', at most %d characters", name, maxServiceName))
	}
	s := &Service{
		name:    name,
		byName:  make(map[string]*revision),
		failing: make(map[string]string),
	}
	for _, o := range opts {
		o.applyService(s)
	}
	if s.clock == nil {
		s.clock = NewClock(defaultTime())
	}
	if s.url == "" {
		s.url = "https://" + name + "-abc123xyz-ew.a.run.app"
	}
	for i, r := range s.seed {
		if _, err := (serviceCore{s}).Deploy(context.Background(), r); err != nil {
			panic(fmt.Sprintf("fake: NewService(%q): WithDeployed release %d: %v", name, i+1, err))
		}
	}
	s.seed = nil
	return s
}

// maxServiceName is Cloud Run's limit on service names (unverified: the
// console's "cannot be longer than 49 characters"; runpb does not state it).
const maxServiceName = 49

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Deploy creates the revision r describes and routes traffic as r.Traffic
// says, following Cloud Run:
//
//   - The revision name is r.Revision, or "<service>-" + r.Revision when it
//     does not start with "<service>-"; an empty r.Revision generates
//     "<service>-NNNNN-xyz" from the generation.
//   - A new revision that becomes ready is the service's latest ready
//     revision (Split.LatestRevision), which LATEST targets follow.
//   - A new revision inherits the settings of the service's live template
//     ([Service.LiveSettings]) with r.Overrides applied
//     ([stage.Overrides.ApplyTo]); the template then has the new settings.
//     Its labels are the template's, without the previous release's
//     [stage.LabelCommit], [stage.LabelRef] and [stage.LabelConfig], plus
//     r.Labels and, for non-zero overrides, [stage.LabelConfig] with
//     r.Overrides' fingerprint, as stage/cloudrun writes them (without its
//     [stage.LabelManagedBy]).
//   - A revision of that name with the same artifact, labels and overrides
//     ([stage.Overrides.Fingerprint]) is adopted: no new revision, and it
//     does not become the latest (DESIGN.md "API facts": "same template →
//     no new revision"; that latest_ready_revision stays is unverified, and
//     is cloudrunfake's reading too), but traffic is routed as asked; the
//     live template is left as it is. With a different artifact, labels or
//     overrides the deploy fails with [twostage.ErrConflict].
//   - [stage.RouteAll] sets the split to 100% LATEST (100% to the revision
//     by name if it is an adopted one that is not the latest), keeping every
//     tag as a 0% entry, and creates the service if needed.
//     [stage.RouteNone] is "gcloud run deploy --no-traffic": when it creates
//     a revision, each LATEST entry is pinned to the current latest ready
//     revision with the same percent, so nobody's traffic moves; it is
//     refused with [twostage.ErrInvalid] on a service that does not exist.
//   - Each of r.Tags then points at the deployed revision (moving it if it
//     pointed elsewhere) as a 0% entry.
//   - A revision that fails its readiness check ([WithReadiness],
//     [Service.FailRevision]) is recorded with Ready false, the split and
//     LatestRevision stay as they were, and Deploy returns the revision with
//     an error wrapping [twostage.ErrNotReady]; deploying it again returns
//     the same error.
//
// Invalid releases, including overrides that [stage.Overrides.Validate]
// refuses or that give a CPU/memory pair or scaling the live template
// cannot take ([stage.ValidateEffective]), fail with [twostage.ErrInvalid]
// and change nothing. A revision that is not ready leaves the live template
// as it was.
func (s *Service) Deploy(ctx context.Context, r stage.Release) (stage.Revision, error) {
	n := s.count(mDeploy)
	var (
		rev stage.Revision
		err error
	)
	if f := s.funcs.Deploy; f != nil {
		rev, err = f(ctx, n, serviceCore{s}, r)
	} else {
		rev, err = serviceCore{s}.Deploy(ctx, r)
	}
	arg := rev.Name
	if arg == "" {
		arg = revisionName(s.name, r.Revision)
	}
	s.record("Deploy", arg, err)
	return rev, err
}

// Split returns the current split with its Version, State and
// LatestRevision. It fails with [twostage.ErrNotFound] if the service does
// not exist.
func (s *Service) Split(ctx context.Context) (traffic.Split, error) {
	n := s.count(mSplit)
	var (
		sp  traffic.Split
		err error
	)
	if f := s.funcs.Split; f != nil {
		sp, err = f(ctx, n, serviceCore{s})
	} else {
		sp, err = serviceCore{s}.Split(ctx)
	}
	s.record("Split", "", err)
	return sp, err
}

// SetSplit replaces the split's Targets and State with sp's, atomically,
// and returns the new split. It fails, changing nothing, with:
//
//   - [twostage.ErrNotFound] if the service does not exist;
//   - [twostage.ErrConflict] if sp.Version is set and is not the current
//     Version. An empty sp.Version writes unconditionally, as an empty etag
//     does on Cloud Run (AIP-154: the etag is optional on update;
//     unverified for Cloud Run in particular);
//   - [twostage.ErrInvalid] if [traffic.Validate] refuses sp, or a target
//     names a revision that does not exist (DESIGN.md "API facts": "a target
//     naming a missing revision fails"; the text is unverified);
//   - [twostage.ErrInvalid] and [twostage.ErrNotReady] both, if a target
//     sends traffic to a revision that is not ready.
//
// Empty Targets are stored as 100% LATEST, as Cloud Run defaults them
// (runpb Service.traffic: "If traffic is empty or not provided, defaults to
// 100% traffic to the latest `Ready` Revision").
func (s *Service) SetSplit(ctx context.Context, sp traffic.Split) (traffic.Split, error) {
	n := s.count(mSetSplit)
	var (
		out traffic.Split
		err error
	)
	if f := s.funcs.SetSplit; f != nil {
		out, err = f(ctx, n, serviceCore{s}, sp)
	} else {
		out, err = serviceCore{s}.SetSplit(ctx, sp)
	}
	s.record("SetSplit", splitString(sp), err)
	return out, err
}

// Revisions yields the service's revisions, ready or not, newest first, as
// of the call (later deploys are not seen by an iteration in progress). A
// service that does not exist has none. The call is recorded in
// [Service.Calls] when Revisions is called, with no error.
func (s *Service) Revisions(ctx context.Context) iter.Seq2[stage.Revision, error] {
	n := s.count(mRevisions)
	var seq iter.Seq2[stage.Revision, error]
	if f := s.funcs.Revisions; f != nil {
		seq = f(ctx, n, serviceCore{s})
	} else {
		seq = serviceCore{s}.Revisions(ctx)
	}
	s.record("Revisions", "", nil)
	return seq
}

// Revision returns the revision called name, the full "<service>-<suffix>"
// or only the suffix (see [stage.Getter]), with the tag URLs of the current
// split; a missing revision fails with [twostage.ErrNotFound]. The call is
// recorded in [Service.Calls].
func (s *Service) Revision(ctx context.Context, name string) (stage.Revision, error) {
	s.count(mRevision)
	full := revisionName(s.name, name)
	rev, err := func() (stage.Revision, error) {
		if err := ctx.Err(); err != nil {
			return stage.Revision{}, fmt.Errorf("reading revision %q of service %q: %w", full, s.name, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.byName[full]
		if !ok {
			return stage.Revision{}, fmt.Errorf("reading revision %q of service %q: revision does not exist: %w", full, s.name, twostage.ErrNotFound)
		}
		return s.revisionLocked(r), nil
	}()
	s.record("Revision", full, err)
	return rev, err
}

// Drift compares declared with the live template's settings
// ([Service.LiveSettings]) by [stage.CompareLive] (see [stage.Drifter]).
// It fails with [twostage.ErrInvalid] for invalid declared overrides and
// with [twostage.ErrNotFound] when the service does not exist. The call is
// recorded in [Service.Calls].
func (s *Service) Drift(ctx context.Context, declared stage.Overrides) (stage.Drift, error) {
	s.count(mDrift)
	d, err := func() (stage.Drift, error) {
		what := fmt.Sprintf("comparing the declared overrides with the template of service %q", s.name)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := declared.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.exists {
			return nil, fmt.Errorf("%s: service does not exist; deploy with traffic (RouteAll) to create it: %w", what, twostage.ErrNotFound)
		}
		return stage.CompareLive(declared, s.live), nil
	}()
	s.record("Drift", "", err)
	return d, err
}

// LiveSettings returns a copy of the settings of the service's revision
// template, which the next deploy inherits: the settings seeded by
// [WithTemplate] or [Service.SetLiveSettings], as changed by each deploy
// that created a revision, including the labels of the last such revision
// (the backend's own among them).
func (s *Service) LiveSettings() stage.Overrides {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live.Clone()
}

// SetLiveSettings replaces the settings of the service's revision template
// with settings, as an edit made elsewhere (Terraform, the console) would,
// so that tests can create configuration drift. Unlike such an edit on
// Cloud Run, it creates no revision and changes neither the traffic nor the
// version: it only changes what the next deploy inherits and what
// [Service.Drift] reports. settings.RemoveEnv is ignored.
func (s *Service) SetLiveSettings(settings stage.Overrides) {
	c := settings.Clone()
	c.RemoveEnv = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = c
}

// FailRevision makes a later Deploy that creates the revision name (full or
// suffix, as in [stage.Release]) end not ready, with reason as Cloud Run's
// reason text, for example "The user-provided container failed to start and
// listen on the port defined provided by the PORT=8080 environment
// variable." It has no effect on a revision that already exists.
func (s *Service) FailRevision(name, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[revisionName(s.name, name)] = reason
}

// Snapshot returns a deep copy of the service's state.
func (s *Service) Snapshot() ServiceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServiceState{Exists: s.exists, Generation: s.generation, Live: s.live.Clone()}
	if s.exists {
		st.Split = s.splitLocked()
	}
	for i := len(s.revs) - 1; i >= 0; i-- {
		st.Revisions = append(st.Revisions, s.revisionLocked(s.revs[i]))
	}
	return st
}

// Calls returns a copy of the calls of Deploy, Split, SetSplit, Revisions,
// Revision and Drift so far, in the order they returned.
func (s *Service) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Service) count(m int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[m]++
	return s.n[m]
}

func (s *Service) record(method, arg string, err error) {
	at := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, Arg: arg, Err: err, At: at})
}

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
	if r.Traffic == stage.RouteNone && !s.exists {
		// gcloud: "--no-traffic not supported when creating a new service."
		// (quoted in google/exposure-notifications-server#360).
		return stage.Revision{}, fmt.Errorf("%s: service %q does not exist; deploy with traffic first (RouteAll) to create it: %w", what, s.name, twostage.ErrInvalid)
	}

	rev, adopt := s.byName[name]
	config := r.Overrides.Fingerprint()
	if adopt {
		// DESIGN.md "API facts": a reused name with a different template is
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
		// replaced as stage/cloudrun does (the previous release's commit,
		// ref and config labels dropped, then r.Labels and the config
		// fingerprint added).
		base := s.live.Clone()
		for k := range base.Labels {
			if k == stage.LabelCommit || k == stage.LabelRef || k == stage.LabelConfig {
				delete(base.Labels, k)
			}
		}
		settings := r.Overrides.ApplyTo(base)
		if err := stage.ValidateEffective(r.Overrides, settings); err != nil {
			return stage.Revision{}, fmt.Errorf("%s: %w", what, err)
		}
		if len(r.Labels) > 0 || config != "" {
			if settings.Labels == nil {
				settings.Labels = make(map[string]string)
			}
			maps.Copy(settings.Labels, r.Labels)
			if config != "" {
				settings.Labels[stage.LabelConfig] = config
			}
		}
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
			// DESIGN.md "API facts": the operation fails, terminal_condition
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
		// DESIGN.md "API facts": "update-traffic --to-latest" is
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
		// DESIGN.md "API facts": "--no-traffic" replaces the LATEST entry by
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
			// DESIGN.md "API facts": Cloud Run fails the operation with
			// "Revision '…' is not ready and cannot serve traffic" and keeps
			// the traffic; bad input (ErrInvalid) about a revision that is
			// not ready (ErrNotReady), as stage/cloudrun reports it.
			return traffic.Split{}, fmt.Errorf("%s: target %d: Revision '%s' is not ready and cannot serve traffic (%s); route its %d%% elsewhere: %w: %w", what, i+1, t.Revision, rev.reason, t.Percent, twostage.ErrInvalid, twostage.ErrNotReady)
		}
	}
	targets := slices.Clone(sp.Targets)
	if len(targets) == 0 {
		targets = []traffic.Target{{Latest: true, Percent: 100}}
	}
	changed := s.state != sp.State || !slices.Equal(s.targets, targets)
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
// the words of Cloud Run's failed operation (DESIGN.md "API facts":
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

// validateRelease checks r as Cloud Run would check the revision template
// and traffic it becomes. Errors wrap twostage.ErrInvalid.
func (s *Service) validateRelease(r stage.Release) error {
	if err := r.Artifact.Validate(); err != nil {
		return fmt.Errorf("release artifact: %w", err)
	}
	if r.Traffic != stage.RouteAll && r.Traffic != stage.RouteNone {
		return fmt.Errorf("release traffic %q: want stage.RouteAll or stage.RouteNone: %w", r.Traffic, twostage.ErrInvalid)
	}
	seen := make(map[string]bool, len(r.Tags))
	for _, t := range r.Tags {
		switch {
		case !names.DNSLabel(t):
			return fmt.Errorf("release tag %q is not a DNS label (lower-case letters, digits and '-', starting with a letter, not ending with '-'): %w", t, twostage.ErrInvalid)
		case len(t)+len(s.name) > traffic.MaxTagServiceLen:
			return fmt.Errorf("release tag %q and service name %q together are %d characters; Cloud Run allows %d, shorten the tag to at most %d: %w", t, s.name, len(t)+len(s.name), traffic.MaxTagServiceLen, traffic.MaxTagServiceLen-len(s.name), twostage.ErrInvalid)
		case seen[t]:
			return fmt.Errorf("release tag %q is listed twice: %w", t, twostage.ErrInvalid)
		}
		seen[t] = true
	}
	return validateLabels(r.Labels)
}

// reservedLabelNamespaces returns the label namespaces refused on
// revisions: runpb RevisionTemplate.labels, "Cloud Run API v2 does not
// support labels with `run.googleapis.com`, `cloud.googleapis.com`,
// `serving.knative.dev`, or `autoscaling.knative.dev` namespaces, and they
// will be rejected."
func reservedLabelNamespaces() []string {
	return []string{"run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev"}
}

// maxLabels is Google Cloud's limit on labels per resource (resource
// manager "Requirements for labels"; unverified for revisions).
const maxLabels = 64

// validateLabels checks labels against the reserved namespaces and Google
// Cloud's label rules: keys 1 to 63 characters of lower-case letters,
// digits, '_' and '-', starting with a letter; values up to 63 of the same
// characters (resource manager "Requirements for labels"; international
// characters, which Google also allows, are refused here). Errors wrap
// twostage.ErrInvalid and name the key.
func validateLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return fmt.Errorf("release has %d labels; at most %d are allowed: %w", len(labels), maxLabels, twostage.ErrInvalid)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		prefix, _, _ := strings.Cut(k, "/")
		for _, ns := range reservedLabelNamespaces() {
			if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
				return fmt.Errorf("release label %q is in the reserved namespace %s, which Cloud Run rejects; use a key of your own: %w", k, ns, twostage.ErrInvalid)
			}
		}
		if k == "" || len(k) > 63 || k[0] < 'a' || k[0] > 'z' || !labelChars(k) {
			return fmt.Errorf("release label key %q: want 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter: %w", k, twostage.ErrInvalid)
		}
		if len(v) > 63 || !labelChars(v) {
			return fmt.Errorf("release label %q: value %q: want at most 63 lower-case letters, digits, '_' or '-': %w", k, v, twostage.ErrInvalid)
		}
	}
	return nil
}

func labelChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// revisionName returns the full revision name for rev, a full name
// "<service>-<suffix>" or only the suffix, as documented on
// stage.Release.Revision; "" stays "".
func revisionName(service, rev string) string {
	if rev == "" || strings.HasPrefix(rev, service+"-") {
		return rev
	}
	return service + "-" + rev
}

// tagURL returns the URL of tag on the service at base: Cloud Run's
// "https://TAG---SERVICE-HASH-REGION.a.run.app" (DESIGN.md "API facts").
func tagURL(base, tag string) string {
	scheme, host, ok := strings.Cut(base, "://")
	if !ok {
		scheme, host = "https", base
	}
	return scheme + "://" + tag + "---" + host
}

// splitString summarizes the targets of sp for Call.Arg, for example
// "LATEST=90%, api-v1=10%, api-v2=0%#candidate".
func splitString(sp traffic.Split) string {
	if len(sp.Targets) == 0 {
		return "(empty: LATEST=100%)"
	}
	var b strings.Builder
	for i, t := range sp.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		if t.Latest {
			b.WriteString("LATEST")
		} else {
			b.WriteString(t.Revision)
		}
		fmt.Fprintf(&b, "=%d%%", t.Percent)
		if t.Tag != "" {
			b.WriteString("#" + t.Tag)
		}
	}
	return b.String()
}
