package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Deploy creates the revision r describes and routes traffic as r.Traffic
// says, waiting until the revision is ready (see [stage.Stage]).
//
// The release, r.Overrides included ([stage.Overrides.Validate]), is
// validated before any API call. Deploy then starts from the service as
// this Service last read or wrote it (Split, SetSplit, Deploy, …), or reads
// it (GetService) when it has not. Starting from that cached copy is an
// optimistic read: the write carries its etag, so a stale copy makes Cloud
// Run refuse the write (FAILED_PRECONDITION or ABORTED, nothing written)
// and Deploy reads the service and decides again at once (not counted as an
// attempt of [WithRetry]); an adoption that needs no write re-reads the
// service to confirm the copy instead. If the service does not exist, a
// RouteAll deploy creates it from the [WithTemplate] template (UpdateService
// with allow_missing) and a RouteNone deploy is refused. Otherwise:
//
//   - A revision of that name that the service mentions (its latest
//     created revision, its template's revision, or a traffic entry) is read
//     (GetRevision): same image, labels and overrides (the [stage.LabelConfig]
//     fingerprint) → adopted, and the service is written only if the traffic
//     differs from what r asks; otherwise [twostage.ErrConflict] naming the
//     difference, with an ALREADY_EXISTS cause like the API's.
//   - Otherwise one UpdateService, conditional on the etag, sets on the
//     current template: the container image to r.Artifact ("repo@sha256:…"),
//     the revision name, r.Overrides ([stage.Overrides]: environment
//     variables and secret references of the container, service account,
//     CPU/memory limits, scaling, concurrency, after checking the values they
//     give together with the live ones, [stage.ValidateEffective]), and the
//     labels (the current ones except the previous release's
//     twostage-commit, twostage-ref and twostage-config, then
//     r.Overrides.Labels, then r.Labels, then "managed-by: twostage" and,
//     for non-zero overrides, twostage-config). Every other field of the
//     template (volumes, probes, VPC access, timeouts, annotations, other
//     containers, …) and of the service is kept as it is: template
//     preservation, like "gcloud run deploy --image". RouteAll sets the
//     traffic to [{LATEST, 100%}] plus the existing tags as tag-only entries
//     plus one {revision, 0%, tag} per r.Tags; RouteNone pins LATEST entries
//     to the latest ready revision with the same percent, keeps tags, and
//     adds {revision, 0%, tag} per r.Tags ("gcloud run deploy
//     --no-traffic"). If Cloud Run answers ALREADY_EXISTS (a revision of
//     that name that the service does not mention was made from another
//     template, for example before the live template changed), that
//     revision is read and adopted as above when its image, labels and
//     overrides match, or refused with [twostage.ErrConflict].
//
// When the operation's response settles the outcome (its latest ready
// revision is the new one, made by its template), the returned revision is
// built from the response without another call. Otherwise the revision's
// own Ready condition is read (GetRevision): FAILED, or an operation failing
// with "Revision … is not ready", yields [twostage.ErrNotReady] with Cloud
// Run's message and the failed revision; if the service's template still
// names the failed revision, its template and traffic are put back as they
// were read (a read and a write), so that the failed revision does not block
// later writes such as a rollback. A lost etag race on a fresh read is
// retried from the read, up to the [WithRetry] attempts, since the deploy's
// intent does not depend on what was read; after that it yields
// [twostage.ErrConflict]. A release with a Version ([stage.Release.Version])
// is different: its intent rests on what its caller read, so a service at
// another etag (on the read, or on the write's etag check) fails at once
// with [twostage.ErrConflict], nothing written.
//
// A deploy of a new revision costs one UpdateService (plus GetOperation
// polls while the operation runs), and a GetService when this Service holds
// no copy of the service (a new process); an adopted revision whose traffic
// is as asked costs GetService and GetRevision and writes nothing. A
// RouteAll re-deploy of an older revision that the service no longer
// mentions costs a second UpdateService and a GetRevision: Cloud Run adopts
// it without making it the latest, so it is then routed to by name. See the
// package documentation for the measured table.
func (s *Service) Deploy(ctx context.Context, r stage.Release) (stage.Revision, error) {
	name, err := validateRelease(s.short, r)
	if err != nil {
		return stage.Revision{}, err
	}
	if err := r.Overrides.Validate(); err != nil {
		return stage.Revision{}, fmt.Errorf("cloudrun: release overrides: %w", err)
	}
	image := r.Artifact.String()
	useCache := true
	var start *runpb.Service
	for attempt := 1; ; {
		rev, fromCache, err := s.deployOnce(ctx, name, image, r, start, useCache)
		useCache, start = false, nil
		if err != nil && fromCache && staleCache(err) {
			// The service this Service last saw has moved on (or is gone):
			// nothing was written, so decide again at once from a fresh
			// read (the one that found the cache stale, if any), without
			// counting an attempt.
			s.log.InfoContext(ctx, "cloudrun: the cached service was stale; deciding again from a fresh read", "service", s.short, "revision", name)
			var se *staleError
			if errors.As(err, &se) {
				start = se.fresh
			}
			continue
		}
		if err == nil || !lostRace(err) || attempt >= s.attempts || r.Version != "" {
			return rev, err
		}
		attempt++
		// Another writer changed the service between our read and write.
		// The deploy's intent does not depend on what was read (unlike a
		// SetSplit, whose caller chose the targets), so read again and
		// redo it.
		s.log.InfoContext(ctx, "cloudrun: service changed during the deploy; reading it again", "service", s.short, "revision", name, "attempt", attempt)
		if serr := s.clock.Sleep(ctx, s.policy.Delay(attempt-2)); serr != nil {
			return rev, err
		}
	}
}

// lostRace reports whether err is an UpdateService call refused for a stale
// etag (FAILED_PRECONDITION per AIP-154, or ABORTED).
func lostRace(err error) bool {
	var ce *callError
	if !errors.As(err, &ce) {
		return false
	}
	c := status.Code(ce.err)
	return c == codes.FailedPrecondition || c == codes.Aborted
}

// staleError reports that the service a deploy started from, cached by
// this Service, is not the current one, fresh: the deploy wrote nothing and
// must decide again from fresh.
type staleError struct{ fresh *runpb.Service }

func (e *staleError) Error() string {
	return fmt.Sprintf("cloudrun: the cached service is stale (now at etag %s)", e.fresh.GetEtag())
}

// staleCache reports whether err, from a deploy that started from the
// cached service, shows that the cache was stale: an etag conflict on the
// write, a service that no longer exists, or a *staleError.
func staleCache(err error) bool {
	var (
		ce *callError
		se *staleError
	)
	return errors.As(err, &se) || lostRace(err) || errors.As(err, &ce) && status.Code(ce.err) == codes.NotFound
}

// deployOnce is one read-modify-write of Deploy. It starts from start, a
// service just read, if not nil; else, with useCache, from the service as
// this Service last read or wrote it, if any (an optimistic read: a stale
// one is caught by the etag of the write, or re-checked before an adoption
// that writes nothing); else it reads the service. fromCache reports
// whether it started from the cache.
func (s *Service) deployOnce(ctx context.Context, name, image string, r stage.Release, start *runpb.Service, useCache bool) (_ stage.Revision, fromCache bool, _ error) {
	cur := start
	if cur == nil && useCache {
		cur = s.snapshot()
		fromCache = cur != nil
	}
	if cur == nil {
		var err error
		cur, err = s.getService(ctx)
		switch {
		case errors.Is(err, twostage.ErrNotFound) && r.Traffic == stage.RouteNone:
			return stage.Revision{}, false, fmt.Errorf("cloudrun: deploying %s with no traffic: service %q does not exist; the first deploy must route traffic (stage.RouteAll) to create it: %w (%w)", image, s.short, twostage.ErrInvalid, err)
		case errors.Is(err, twostage.ErrNotFound):
			rev, err := s.create(ctx, name, image, r)
			return rev, false, err
		case err != nil:
			return stage.Revision{}, false, fmt.Errorf("cloudrun: deploying %s: %w", image, err)
		}
	}
	if r.Version != "" && cur.GetEtag() != r.Version {
		if fromCache {
			// The copy may be older than what the caller read: read again.
			return stage.Revision{}, true, &staleError{}
		}
		return stage.Revision{}, false, fmt.Errorf("cloudrun: deploying %s: the release was decided on version %q of service %q, which has moved on to %q since; read it again and decide again: %w", image, r.Version, s.short, cur.GetEtag(), twostage.ErrConflict)
	}
	if name != "" && knows(cur, name) {
		rev, err := s.getRevision(ctx, name)
		switch {
		case err == nil:
			out, err := s.adopt(ctx, cur, rev, image, r, fromCache)
			return out, fromCache, err
		case !errors.Is(err, twostage.ErrNotFound):
			return stage.Revision{}, fromCache, err
		}
		// The name is in the template or traffic but the revision is gone:
		// deploy it anew.
	}
	out, err := s.deployNew(ctx, cur, name, image, r, fromCache)
	return out, fromCache, err
}

// knows reports whether svc mentions revision name.
func knows(svc *runpb.Service, name string) bool {
	if shortName(svc.GetLatestCreatedRevision()) == name || svc.GetTemplate().GetRevision() == name {
		return true
	}
	for _, t := range svc.GetTraffic() {
		if shortName(t.GetRevision()) == name {
			return true
		}
	}
	for _, t := range svc.GetTrafficStatuses() {
		if shortName(t.GetRevision()) == name {
			return true
		}
	}
	return false
}

// create creates the service with its first revision.
func (s *Service) create(ctx context.Context, name, image string, r stage.Release) (stage.Revision, error) {
	tmpl := proto.Clone(s.template).(*runpb.RevisionTemplate)
	if err := s.prepare(tmpl, name, image, r); err != nil {
		return stage.Revision{}, err
	}
	targets := []traffic.Target{{Latest: true, Percent: 100}}
	for _, tag := range r.Tags {
		targets = append(targets, traffic.Target{Revision: name, Tag: tag})
	}
	svc := &runpb.Service{Name: s.name, Template: tmpl, Traffic: trafficOf(targets)}
	s.log.InfoContext(ctx, "cloudrun: creating service", "service", s.short, "revision", name, "image", image, "before", "", "after", splitString(targets))
	resp, err := s.update(ctx, svc, true)
	if err != nil {
		return s.deployError(ctx, err, svc, name, image)
	}
	if name == "" {
		name = shortName(resp.GetLatestCreatedRevision())
	}
	return s.finish(ctx, resp, name)
}

// deployNew writes a new revision into the existing service cur.
func (s *Service) deployNew(ctx context.Context, cur *runpb.Service, name, image string, r stage.Release, fromCache bool) (stage.Revision, error) {
	before := splitOf(cur)
	targets, err := desired(before, name, r, true, true)
	if err != nil {
		return stage.Revision{}, err
	}
	prev := proto.Clone(cur).(*runpb.Service)
	if cur.Template == nil {
		cur.Template = proto.Clone(s.template).(*runpb.RevisionTemplate)
	}
	if err := s.prepare(cur.Template, name, image, r); err != nil {
		return stage.Revision{}, err
	}
	cur.Traffic = trafficOf(targets)
	s.log.InfoContext(ctx, "cloudrun: deploying revision", "service", s.short, "revision", name, "image", image, "traffic", string(r.Traffic), "before", splitString(before.Targets), "after", splitString(targets))
	resp, err := s.update(ctx, cur, false)
	if err != nil && status.Code(err) == codes.AlreadyExists && name != "" {
		// A revision of that name exists, unknown to the service, and the
		// template it would get now differs from the one it was made from
		// (for example because the live template has changed since). The
		// release's identity is its image, labels and overrides, not the
		// whole template: read the revision and adopt it if that identity
		// matches; otherwise adopt refuses with the difference. Nothing
		// was written.
		if rev, gerr := s.getRevision(ctx, name); gerr == nil {
			return s.adopt(ctx, prev, rev, image, r, fromCache)
		}
	}
	if err != nil {
		rev, err := s.deployError(ctx, err, prev, name, image)
		if errors.Is(err, twostage.ErrNotReady) && name != "" {
			s.restore(ctx, prev, name)
		}
		return rev, err
	}
	if name == "" {
		name = shortName(resp.GetLatestCreatedRevision())
	}
	if r.Traffic == stage.RouteAll && name != "" && shortName(resp.GetLatestCreatedRevision()) != name {
		// Cloud Run made no new revision: one of that name and the same
		// configuration existed, unknown to the service's traffic, and was
		// adopted without becoming the latest (cloudrunfake's unverified
		// reading of "same template → no new revision"). LATEST does not
		// reach it, so route to it by name in a second write.
		if resp, err = s.routeByName(ctx, resp, name, r); err != nil {
			return s.deployError(ctx, err, prev, name, image)
		}
	}
	return s.finish(ctx, resp, name)
}

// routeByName rewrites the traffic of svc so that revision name gets 100%.
func (s *Service) routeByName(ctx context.Context, svc *runpb.Service, name string, r stage.Release) (*runpb.Service, error) {
	before := splitOf(svc)
	targets, err := desired(before, name, r, false, false)
	if err != nil {
		return nil, err
	}
	svc.Traffic = trafficOf(targets)
	s.log.InfoContext(ctx, "cloudrun: routing traffic to adopted revision", "service", s.short, "revision", name, "traffic", string(r.Traffic), "before", splitString(before.Targets), "after", splitString(targets))
	return s.update(ctx, svc, false)
}

// adopt returns the existing revision rev after checking it runs the release
// and routing traffic as r asks (writing only if that changes anything).
func (s *Service) adopt(ctx context.Context, cur *runpb.Service, rev *runpb.Revision, image string, r stage.Release, fromCache bool) (stage.Revision, error) {
	name := shortName(rev.GetName())
	var diffs []string
	have := ""
	if c := containerOf(rev.GetContainers(), s.container); c != nil {
		have = c.GetImage()
	}
	if have != image {
		diffs = append(diffs, fmt.Sprintf("it runs image %q, the release %q", have, image))
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		if got, ok := rev.GetLabels()[k]; !ok || got != r.Labels[k] {
			diffs = append(diffs, fmt.Sprintf("its label %s is %q, the release's %q", k, got, r.Labels[k]))
		}
	}
	if have, want := rev.GetLabels()[stage.LabelConfig], r.Overrides.Fingerprint(); have != want {
		diffs = append(diffs, fmt.Sprintf("it was deployed with overrides of fingerprint %q (label %s), the release's overrides have %q", have, stage.LabelConfig, want))
	}
	if len(diffs) > 0 {
		// Detected before writing; the cause is what the API would answer
		// (Cloud Run, unverified), so status.Code is ALREADY_EXISTS on both
		// paths.
		cause := status.Errorf(codes.AlreadyExists, "Revision named '%s' with different configuration already exists.", name)
		return stage.Revision{}, fmt.Errorf("cloudrun: deploying %s: revision %q already exists with a different configuration: %s; deploy with a new revision suffix: %w",
			image, name, strings.Join(diffs, "; "), &gcperr.Error{Sentinel: twostage.ErrConflict, Cause: cause})
	}
	if c := readyCondition(rev.GetConditions()); c.GetState() != runpb.Condition_CONDITION_SUCCEEDED {
		return stage.Revision{}, fmt.Errorf("cloudrun: deploying %s: revision %q already exists and is not ready (%s); fix the cause and deploy with a new revision suffix: %w", image, name, describeCondition(c), twostage.ErrNotReady)
	}
	before := splitOf(cur)
	latest := shortName(cur.GetLatestCreatedRevision()) == name
	targets, err := desired(before, name, r, latest, false)
	if err != nil {
		return stage.Revision{}, err
	}
	if traffic.Equal(before, traffic.Split{Targets: targets}) {
		if fromCache {
			// Nothing to write, so no etag vouches for the cached service:
			// check that it is still current before saying the traffic is
			// as asked.
			fresh, err := s.getService(ctx)
			if err != nil {
				return stage.Revision{}, fmt.Errorf("cloudrun: deploying %s: %w", image, err)
			}
			if fresh.GetEtag() != cur.GetEtag() {
				return stage.Revision{}, &staleError{fresh: fresh}
			}
		}
		return s.revisionOf(rev, cur), nil
	}
	cur.Traffic = trafficOf(targets)
	s.log.InfoContext(ctx, "cloudrun: routing traffic to adopted revision", "service", s.short, "revision", name, "traffic", string(r.Traffic), "before", splitString(before.Targets), "after", splitString(targets))
	resp, err := s.update(ctx, cur, false)
	if err != nil {
		return s.deployError(ctx, err, cur, name, image)
	}
	return s.revisionOf(rev, resp), nil
}

// prepare sets the image, revision name, overrides and labels of tmpl for
// release r. The overrides are applied onto the template's settings
// ([applyOverrides]) after checking the result ([stage.ValidateEffective]).
// The labels are [stage.RevisionLabels] (the template's carried over)
// plus [stage.LabelManagedBy]. Every other template field is left as it
// is.
func (s *Service) prepare(tmpl *runpb.RevisionTemplate, name, image string, r stage.Release) error {
	c := containerOf(tmpl.GetContainers(), s.container)
	if c == nil {
		if s.container != "" {
			return invalidf("service %q: the revision template has no container named %q (WithContainer)", s.short, s.container)
		}
		c = &runpb.Container{}
		tmpl.Containers = append(tmpl.Containers, c)
	}
	if !r.Overrides.IsZero() {
		live := settingsOf(tmpl, c)
		if err := stage.ValidateEffective(r.Overrides, r.Overrides.ApplyTo(live)); err != nil {
			return fmt.Errorf("cloudrun: deploying revision %q to service %q: %w", name, s.short, err)
		}
		applyOverrides(tmpl, c, r.Overrides)
	}
	c.Image = image
	tmpl.Revision = name
	tmpl.Labels = stage.RevisionLabels(tmpl.GetLabels(), r)
	if tmpl.Labels == nil {
		tmpl.Labels = make(map[string]string, 1)
	}
	tmpl.Labels[stage.LabelManagedBy] = ManagedByValue
	return nil
}

// desired computes the traffic entries after deploying revision name for
// release r onto split cur. latest says the revision is (or will be) the
// latest created one, so that RouteAll may route through LATEST. pin says a
// new revision is being created, so that RouteNone must pin LATEST entries
// (which would otherwise follow the new revision).
func desired(cur traffic.Split, name string, r stage.Release, latest, pin bool) ([]traffic.Target, error) {
	s := cur
	switch r.Traffic {
	case stage.RouteAll:
		// "update-traffic --to-latest": [{LATEST, 100}] + tag-only entries.
		first := traffic.Target{Latest: true, Percent: 100}
		if !latest {
			first = traffic.Target{Revision: name, Percent: 100}
		}
		s.Targets = []traffic.Target{first}
		for _, t := range cur.Targets {
			if t.Tag != "" {
				t.Percent = 0
				s.Targets = append(s.Targets, t)
			}
		}
	case stage.RouteNone:
		if pin {
			var err error
			if s, err = traffic.Pin(cur, cur.LatestRevision); err != nil {
				return nil, fmt.Errorf("cloudrun: deploying revision %q with no traffic: the service has no ready revision to keep serving; deploy with stage.RouteAll first: %w", name, err)
			}
		}
	}
	for _, tag := range r.Tags {
		var err error
		if s, err = traffic.SetTag(s, tag, name); err != nil {
			return nil, fmt.Errorf("cloudrun: deploying revision %q: %w", name, err)
		}
	}
	return s.Targets, nil
}

// finish returns the deployed revision name after the write that answered
// resp. When resp settles it (its latest ready revision is name and its
// template made name), the revision is built from resp without a read
// (runpb Service.reconciling: "If reconciliation succeeded, the following
// fields will match: … `latest_ready_revision` and
// `latest_created_revision`", also for a revision given no traffic):
// image and labels from the template, tag URLs from traffic_statuses, and
// Created from resp's update_time, the time of the write that created it
// (the revision's own create_time is not in the Service; in the emulator
// they are equal, on Cloud Run unverified). Otherwise it reads the revision
// and checks its own Ready condition (not the service's: a no-traffic
// revision does not make the service unready).
func (s *Service) finish(ctx context.Context, resp *runpb.Service, name string) (stage.Revision, error) {
	if name != "" && resp.GetLatestReadyRevision() == s.revisionResource(name) {
		if t := resp.GetTemplate().GetRevision(); t == name || t == "" && resp.GetLatestCreatedRevision() == s.revisionResource(name) {
			return s.revisionFromService(resp, name), nil
		}
	}
	rev, err := s.getRevision(ctx, name)
	if err != nil {
		return stage.Revision{}, err
	}
	out := s.revisionOf(rev, resp)
	if !out.Ready {
		c := readyCondition(rev.GetConditions())
		return out, fmt.Errorf("cloudrun: revision %q did not become ready (%s): %w", name, describeCondition(c), twostage.ErrNotReady)
	}
	return out, nil
}

// revisionFromService builds revision name, the ready revision svc's
// template made, from svc.
func (s *Service) revisionFromService(svc *runpb.Service, name string) stage.Revision {
	tmpl := svc.GetTemplate()
	out := stage.Revision{
		Name:    name,
		Ready:   true,
		URL:     svc.GetUri(),
		Labels:  maps.Clone(tmpl.GetLabels()),
		TagURLs: tagURLs(svc, name),
	}
	if c := containerOf(tmpl.GetContainers(), s.container); c != nil {
		out.Artifact = artifactOf(c.GetImage())
	}
	if ts := svc.GetUpdateTime(); ts != nil {
		out.Created = ts.AsTime()
	}
	return out
}

// deployError maps the failure of a deploy's UpdateService, against the
// service svc as last known. An operation that fails with
// FAILED_PRECONDITION because the revision is not ready ("Revision '…' is
// not ready and cannot serve traffic"; Cloud Run, unverified) is ErrNotReady,
// not a conflict; the revision's own condition confirms it, and the failed
// revision is returned with the error. ALREADY_EXISTS ("Revision named '…'
// with different configuration already exists.") is a conflict on the name.
func (s *Service) deployError(ctx context.Context, err error, svc *runpb.Service, name, image string) (stage.Revision, error) {
	var ce *callError
	fromCall := errors.As(err, &ce)
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded) {
		return stage.Revision{}, fmt.Errorf("cloudrun: deploying revision %q (%s): %w", name, image, err)
	}
	switch status.Code(err) {
	case codes.AlreadyExists:
		return stage.Revision{}, fmt.Errorf("cloudrun: deploying %s: revision %q already exists with a different configuration; deploy with a new revision suffix: %w",
			image, name, &gcperr.Error{Sentinel: twostage.ErrConflict, Cause: err})
	case codes.FailedPrecondition:
		if !fromCall && name != "" {
			rev, rerr := s.getRevision(ctx, name)
			failed := rerr == nil && readyCondition(rev.GetConditions()).GetState() == runpb.Condition_CONDITION_FAILED
			if failed || strings.Contains(status.Convert(err).Message(), "not ready") {
				out := stage.Revision{}
				if rerr == nil {
					out = s.revisionOf(rev, svc)
				}
				return out, fmt.Errorf("cloudrun: deploying %s: revision %q did not become ready: %w", image, name, &gcperr.Error{Sentinel: twostage.ErrNotReady, Cause: err})
			}
		}
	}
	return stage.Revision{}, gcperr.Wrap(err, "cloudrun: deploying revision %q (%s) to service %q", name, image, s.short)
}

// restore undoes, as far as Cloud Run allows, a deploy whose revision failed
// to become ready: it puts back the template and the traffic of prev, the
// service as read before the deploy, so that the service no longer names
// the failed revision. Otherwise its template keeps naming it, and later
// writes, such as a rollback, keep failing on it (cloudrunfake; a failed
// revision left in the spec is known to block later deploys on Cloud Run
// too, unverified in detail). The template's revision is the one prev's
// template made, so no revision is created. It does nothing when prev had no
// healthy latest revision, or when another writer has moved the template
// on; a failure is logged, not returned: the deploy's ErrNotReady stands.
func (s *Service) restore(ctx context.Context, prev *runpb.Service, failed string) {
	ready, created := shortName(prev.GetLatestReadyRevision()), shortName(prev.GetLatestCreatedRevision())
	if ready == "" || ready != created || prev.GetTemplate() == nil {
		return
	}
	cur, err := s.getService(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "cloudrun: not restoring the service after a failed deploy", "service", s.short, "revision", failed, "error", err)
		return
	}
	if cur.GetTemplate().GetRevision() != failed {
		return
	}
	cur.Template = proto.Clone(prev.GetTemplate()).(*runpb.RevisionTemplate)
	if cur.Template.Revision == "" {
		cur.Template.Revision = created
	}
	after := splitOf(prev)
	s.log.InfoContext(ctx, "cloudrun: restoring the service after a failed deploy", "service", s.short, "revision", failed, "template", cur.Template.Revision, "before", splitString(splitOf(cur).Targets), "after", splitString(after.Targets))
	cur.Traffic = trafficOf(after.Targets)
	if _, err := s.update(ctx, cur, false); err != nil {
		s.log.WarnContext(ctx, "cloudrun: restoring the service after a failed deploy failed", "service", s.short, "revision", failed, "error", err)
	}
}
