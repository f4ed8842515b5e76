package traffic

import (
	"context"
)

// Target routes a share of traffic, and optionally a tag, to one revision.
type Target struct {
	// Revision is the short revision name. Empty when Latest is set.
	Revision string
	// Latest routes to whichever revision is the newest ready one (Cloud
	// Run's TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST). Revision must be empty.
	Latest bool
	// Percent is the share of traffic, 0 to 100. A tag-only target has 0.
	Percent int
	// Tag, if set, gives the target its own URL
	// (https://TAG---SERVICE-HASH-REGION.a.run.app). Tags are DNS labels and
	// unique within a split.
	Tag string
}

// Split is the traffic configuration of a service.
//
// An empty Targets list means 100% to the latest ready revision, as on a
// freshly created Cloud Run service.
type Split struct {
	// Targets are the traffic entries. A revision may appear in several
	// entries (for example one with percent and one tag-only); its share is
	// the sum of its entries' percents.
	Targets []Target
	// Version is the optimistic-concurrency token of the split as read (the
	// Cloud Run service etag). SetSplit refuses a write whose Version is
	// not the current one. Empty on a split that was never read.
	Version string
	// State is the rollout engine's record, opaque to routers, persisted in
	// the same write as Targets (on Cloud Run, a service annotation).
	State string
	// LatestRevision is read-only: the revision a Latest target currently
	// resolves to (Cloud Run's latest_ready_revision, short name). Routers
	// fill it in on read and ignore it on write; empty when no revision is
	// ready.
	LatestRevision string
	// Template is write-only: set on a SetSplit, it points the service's
	// revision template back at that existing, ready revision (its name and
	// configuration, image included) in the same write as the targets, so
	// that a later template edit or a LATEST target does not bring back
	// another revision's image. Cloud Run adopts a template naming an
	// existing revision with that revision's configuration without creating
	// a revision. The rollout engine sets it to the stable revision when it
	// rolls back. Empty leaves the template as it is; routers leave it
	// empty on read.
	Template string
}

// Router reads and writes the traffic split of one service. It is the
// TrafficRouter of the design.
//
// Implementations must be safe for concurrent use. Errors wrap the sentinel
// errors of package twostage.
type Router interface {
	// Split returns the current split, with Version set.
	Split(ctx context.Context) (Split, error)

	// SetSplit replaces the split's Targets and State with s's, only if
	// s.Version is still the current version; otherwise it fails with
	// [twostage.ErrConflict] and changes nothing. An invalid split (see
	// [Validate]) or a target naming a revision that does not exist fails
	// with [twostage.ErrInvalid] and changes nothing. On success it returns
	// the new split with its new Version. Targets and State are written
	// atomically: a reader sees both or neither.
	SetSplit(ctx context.Context, s Split) (Split, error)
}

// Namer is an optional extension of [Router] for routers that know their
// service's name, such as stage/cloudrun.Service and fake.Service (it has
// the method set of stage.Namer, so every stage.Namer is one). The rollout
// engine uses it to skip the tags it maintains when a tag does not fit
// beside the service name ([TagFits]); a router that is no Namer gets every
// tag.
type Namer interface {
	// Name returns the short service name, such as "api-prod".
	Name() string
}

// Clone returns a deep copy of s.
func (s Split) Clone() Split {
	c := s
	if s.Targets != nil {
		c.Targets = append([]Target(nil), s.Targets...)
	}
	return c
}
