package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Split returns the service's traffic split: its traffic entries (revisions
// by short name), its etag as Version, the [StateAnnotation] annotation as
// State and its latest ready revision. It costs one GetService.
func (s *Service) Split(ctx context.Context) (traffic.Split, error) {
	svc, err := s.getService(ctx)
	if err != nil {
		return traffic.Split{}, err
	}
	return splitOf(svc), nil
}

// SetSplit writes s's targets and state in one UpdateService conditional on
// the etag s.Version (see [traffic.Router]). An empty Version writes
// unconditionally (the last writer wins), which only tools that own the
// service should do. The state goes to the [StateAnnotation] annotation,
// removed when State is empty; LatestRevision is ignored.
//
// The split is validated before any call. Cloud Run's UpdateService
// replaces the whole service, so SetSplit sends the service as last read
// with the traffic and annotation changed: when s.Version is the etag of the
// service this Service last read or wrote (the usual Split → SetSplit), no
// read is needed; otherwise it reads the service first, and a Version that
// is not the current etag fails without a write. A target naming a
// revision that does not exist, or sending traffic to one that is not ready,
// is refused with [twostage.ErrInvalid] (and [twostage.ErrNotReady]) before
// the write; that check reads (GetRevision) only the revisions the service
// does not already show as serving or latest ready. The returned split
// comes from the operation's response. A lost race (FAILED_PRECONDITION or
// ABORTED from the call) is [twostage.ErrConflict] and is never retried: the
// caller chose the targets from what it read and must decide again.
func (s *Service) SetSplit(ctx context.Context, sp traffic.Split) (traffic.Split, error) {
	if err := traffic.Validate(sp, s.short); err != nil {
		return traffic.Split{}, fmt.Errorf("cloudrun: setting the split of service %q: %w", s.short, err)
	}
	base := s.cached(sp.Version)
	if base == nil {
		var err error
		if base, err = s.getService(ctx); err != nil {
			return traffic.Split{}, fmt.Errorf("cloudrun: setting the split: %w", err)
		}
		if sp.Version != "" && base.GetEtag() != sp.Version {
			return traffic.Split{}, fmt.Errorf("cloudrun: setting the split of service %q: version %q is stale, the service is at %q; read the split again and decide anew: %w", s.short, sp.Version, base.GetEtag(), twostage.ErrConflict)
		}
	}
	if err := s.checkTargets(ctx, base, sp); err != nil {
		return traffic.Split{}, err
	}
	if sp.Template != "" {
		if err := s.pointTemplate(ctx, base, sp.Template); err != nil {
			return traffic.Split{}, err
		}
	}
	before := splitOf(base)
	base.Etag = sp.Version
	base.Traffic = trafficOf(sp.Targets)
	if sp.State == "" {
		delete(base.Annotations, StateAnnotation)
	} else {
		if base.Annotations == nil {
			base.Annotations = make(map[string]string, 1)
		}
		base.Annotations[StateAnnotation] = sp.State
	}
	s.log.InfoContext(ctx, "cloudrun: setting traffic", "service", s.short, "before", splitString(before.Targets), "after", splitString(sp.Targets), "version", sp.Version)
	resp, err := s.update(ctx, base, false)
	if err != nil {
		return traffic.Split{}, s.splitError(err, sp)
	}
	return splitOf(resp), nil
}

// pointTemplate sets base's template to the one revision was made from,
// named after it (Split.Template), unless base's template names it
// already: one GetRevision. Cloud Run adopts the revision without a new
// one. A missing revision fails with twostage.ErrInvalid, one that is not
// ready with twostage.ErrInvalid and twostage.ErrNotReady, before any
// write.
func (s *Service) pointTemplate(ctx context.Context, base *runpb.Service, revision string) error {
	name, err := revisionName(s.short, revision)
	if err != nil {
		return err
	}
	if base.GetTemplate().GetRevision() == name {
		return nil
	}
	rev, err := s.getRevision(ctx, name)
	switch {
	case errors.Is(err, twostage.ErrNotFound):
		return fmt.Errorf("cloudrun: setting the split of service %q: template revision %q does not exist: %w (%w)", s.short, name, twostage.ErrInvalid, err)
	case err != nil:
		return fmt.Errorf("cloudrun: setting the split of service %q: reading template revision %q: %w", s.short, name, err)
	case readyCondition(rev.GetConditions()).GetState() != runpb.Condition_CONDITION_SUCCEEDED:
		return fmt.Errorf("cloudrun: setting the split of service %q: template revision %q is not ready: %w: %w", s.short, name, twostage.ErrInvalid, twostage.ErrNotReady)
	}
	base.Template = templateOf(rev)
	return nil
}

// checkTargets refuses, before any write, a split whose targets name a
// revision that does not exist or send traffic to one that is not ready.
// Cloud Run would accept such a write and fail its operation, after
// persisting parts of it (the emulator keeps the new annotation, hence the
// new State, while restoring the traffic), so it is checked up front.
// Revisions the service already shows as ready (its latest ready revision
// and those serving traffic) and as existing (those in its traffic) need no
// read; any other costs one GetRevision.
func (s *Service) checkTargets(ctx context.Context, base *runpb.Service, sp traffic.Split) error {
	ready := map[string]bool{shortName(base.GetLatestReadyRevision()): true}
	exists := map[string]bool{shortName(base.GetLatestCreatedRevision()): true}
	for _, st := range base.GetTrafficStatuses() {
		rev := shortName(st.GetRevision())
		exists[rev] = true
		if st.GetPercent() > 0 {
			ready[rev] = true
		}
	}
	for _, t := range base.GetTraffic() {
		exists[shortName(t.GetRevision())] = true
	}
	checked := make(map[string]bool)
	for _, t := range sp.Targets {
		if t.Latest || ready[t.Revision] || (t.Percent == 0 && exists[t.Revision]) || checked[t.Revision] {
			continue
		}
		checked[t.Revision] = true
		rev, err := s.getRevision(ctx, t.Revision)
		if errors.Is(err, twostage.ErrNotFound) {
			return fmt.Errorf("cloudrun: setting the split of service %q: target revision %q does not exist; deploy it first or fix the name: %w", s.short, t.Revision, twostage.ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("cloudrun: setting the split of service %q: %w", s.short, err)
		}
		if c := readyCondition(rev.GetConditions()); t.Percent > 0 && c.GetState() != runpb.Condition_CONDITION_SUCCEEDED {
			return fmt.Errorf("cloudrun: setting the split of service %q: target revision %q is not ready (%s) and cannot serve traffic; route its %d%% elsewhere: %w: %w",
				s.short, t.Revision, describeCondition(c), t.Percent, twostage.ErrInvalid, twostage.ErrNotReady)
		}
	}
	return nil
}

// splitError maps the failure of a SetSplit write. An etag mismatch is
// answered by the UpdateService call itself; a failed operation means the
// new traffic could not be served.
func (s *Service) splitError(err error, sp traffic.Split) error {
	switch status.Code(err) {
	case codes.NotFound:
		// The service exists (it was just read); a missing target revision
		// is bad input. Unverified: Cloud Run may also answer
		// INVALID_ARGUMENT or fail the operation for it.
		if missing := missingRevision(status.Convert(err).Message(), sp); missing != "" {
			return fmt.Errorf("cloudrun: setting the split of service %q: target revision %q does not exist; deploy it first or fix the name: %w",
				s.short, missing, &gcperr.Error{Sentinel: twostage.ErrInvalid, Cause: err})
		}
	case codes.FailedPrecondition, codes.Aborted:
		var ce *callError
		if !errors.As(err, &ce) {
			// The write was accepted but its operation failed: a target
			// sends traffic to a revision that is not ready ("Revision '…'
			// is not ready and cannot serve traffic"; Cloud Run, unverified);
			// Cloud Run keeps the traffic as it was. Bad input, not a race.
			return fmt.Errorf("cloudrun: setting the split of service %q to %s: %w: %w", s.short, sp,
				twostage.ErrInvalid, &gcperr.Error{Sentinel: twostage.ErrNotReady, Cause: err})
		}
		return fmt.Errorf("cloudrun: setting the split of service %q at version %q: the service changed since it was read; read the split again and decide anew: %w",
			s.short, sp.Version, &gcperr.Error{Sentinel: twostage.ErrConflict, Cause: err})
	}
	return gcperr.Wrap(err, "cloudrun: setting the split of service %q", s.short)
}

// missingRevision returns the target revision of sp that msg names.
func missingRevision(msg string, sp traffic.Split) string {
	for _, t := range sp.Targets {
		if t.Revision != "" && strings.Contains(msg, t.Revision) {
			return t.Revision
		}
	}
	return ""
}

// Revisions yields the service's revisions, newest first by create time
// (revisions created at the same time keep the API's order), reading every
// page of ListRevisions before yielding, since the API documents no order.
// A service that does not exist has none. Iteration stops at the first
// error, yielded with a zero Revision.
func (s *Service) Revisions(ctx context.Context) iter.Seq2[stage.Revision, error] {
	return func(yield func(stage.Revision, error) bool) {
		revs, err := s.listRevisions(ctx)
		if err != nil {
			yield(stage.Revision{}, err)
			return
		}
		var svc *runpb.Service
		if len(revs) > 0 {
			if svc, err = s.getService(ctx); err != nil && !errors.Is(err, twostage.ErrNotFound) {
				yield(stage.Revision{}, err)
				return
			}
		}
		out := make([]stage.Revision, 0, len(revs))
		for _, r := range revs {
			out = append(out, s.revisionOf(r, svc))
		}
		slices.SortStableFunc(out, func(a, b stage.Revision) int {
			return b.Created.Compare(a.Created)
		})
		for _, r := range out {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// listRevisions reads all pages of ListRevisions, retrying each page.
func (s *Service) listRevisions(ctx context.Context) ([]*runpb.Revision, error) {
	var all []*runpb.Revision
	token := ""
	for {
		var page []*runpb.Revision
		var next string
		err := s.retry(ctx, func(ctx context.Context) error {
			page = page[:0]
			it := s.revs.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: s.name}, gcperr.NoClientRetry())
			var err error
			next, err = iterator.NewPager(it, 100, token).NextPage(&page)
			return err
		})
		if status.Code(err) == codes.NotFound {
			return nil, nil
		}
		if err != nil {
			return nil, gcperr.Wrap(err, "cloudrun: listing revisions of service %q", s.short)
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}
