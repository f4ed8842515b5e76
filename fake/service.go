package fake

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Service is an in-memory Cloud Run service: a [stage.Stage] that creates
// revisions, a [traffic.Router] over its traffic split, a [stage.Lister] of
// its revisions, a [stage.Getter] of one, a [stage.Deleter], a
// [stage.Namer] and a [stage.Drifter] over the settings of its revision template (seeded with
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
	tmpl       *revision            // the revision the template names (its image); nil before the first
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

var (
	_ stage.Stage    = (*Service)(nil)
	_ traffic.Router = (*Service)(nil)
	_ stage.Lister   = (*Service)(nil)
	_ stage.Namer    = (*Service)(nil)
	_ stage.Getter   = (*Service)(nil)
	_ stage.Drifter  = (*Service)(nil)
	_ stage.Deleter  = (*Service)(nil)
	_ ServiceBackend = (*Service)(nil)
)

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
	mDeleteRevision
	numMethods
)

// NewService returns a service named name that does not exist yet. name
// must be a valid Cloud Run service name ([stage.ValidateServiceName]: a
// DNS label of at most [stage.MaxServiceNameLen] characters); NewService
// panics otherwise, as on any programmer error.
func NewService(name string, opts ...ServiceOption) *Service {
	if err := stage.ValidateServiceName(name); err != nil {
		panic(fmt.Sprintf("fake: NewService(%q): %v", name, err))
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
//     does not become the latest (Cloud Run, unverified: "same template →
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
// and returns the new split. With sp.Template set it also points the
// template back at that revision, in the same write: the live settings and
// the image become the revision's, as Cloud Run adopts a template naming an
// existing revision with its configuration (no new revision; LatestRevision
// stays). It fails, changing nothing, with:
//
//   - [twostage.ErrNotFound] if the service does not exist;
//   - [twostage.ErrConflict] if sp.Version is set and is not the current
//     Version. An empty sp.Version writes unconditionally, as an empty etag
//     does on Cloud Run (AIP-154: the etag is optional on update;
//     unverified for Cloud Run in particular);
//   - [twostage.ErrInvalid] if [traffic.Validate] refuses sp, or a target
//     names a revision that does not exist (Cloud Run, unverified: "a target
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

// DeleteRevision deletes the revision called name, the full
// "<service>-<suffix>" or only the suffix (see [stage.Deleter]), by the
// rules of the Cloud Run emulator: the latest or only revision, and one
// that serves traffic or holds a tag, fail with [twostage.ErrConflict]; a
// missing one with [twostage.ErrNotFound]. The service's etag and
// generation do not change. The call is recorded in [Service.Calls].
func (s *Service) DeleteRevision(ctx context.Context, name string) error {
	s.count(mDeleteRevision)
	full := revisionName(s.name, name)
	err := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deleting revision %q of service %q: %w", full, s.name, err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.byName[full]
		if !ok {
			return fmt.Errorf("deleting revision %q of service %q: revision does not exist: %w", full, s.name, twostage.ErrNotFound)
		}
		if len(s.revs) == 1 || s.revs[len(s.revs)-1] == r {
			return fmt.Errorf("deleting revision %q of service %q: it is the latest or the only revision; deploy another revision first: %w", full, s.name, twostage.ErrConflict)
		}
		sp := s.splitLocked()
		if traffic.Shares(sp)[full] > 0 {
			return fmt.Errorf("deleting revision %q of service %q: it serves traffic; route its traffic elsewhere first: %w", full, s.name, twostage.ErrConflict)
		}
		for _, t := range sp.Targets {
			if t.Revision == full && t.Tag != "" {
				return fmt.Errorf("deleting revision %q of service %q: it holds tag %q; remove the tag first: %w", full, s.name, t.Tag, twostage.ErrConflict)
			}
		}
		s.revs = slices.DeleteFunc(s.revs, func(x *revision) bool { return x == r })
		delete(s.byName, full)
		delete(s.failing, full)
		return nil
	}()
	s.record("DeleteRevision", full, err)
	return err
}

// Drift compares declared with the live template's settings
// ([Service.LiveSettings]) by [stage.CompareLive] (see [stage.Drifter]),
// and adds an "image" item when the template runs an image no serving
// revision runs ([stage.TemplateImageDrift]).
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
		d := stage.CompareLive(declared, s.live)
		if s.tmpl != nil {
			sp := s.splitLocked()
			var serving []string
			for name := range traffic.Serving(sp) {
				if r := s.byName[name]; r != nil {
					serving = append(serving, r.artifact.Digest)
				}
			}
			if item, ok := stage.TemplateImageDrift(s.tmpl.name, s.tmpl.artifact.Digest, serving, traffic.AwaitsPromotion(sp, s.tmpl.name)); ok {
				d = append(d, item)
			}
		}
		return d, nil
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
