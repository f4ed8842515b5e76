package stage

import (
	"context"
	"iter"
	"time"

	"github.com/twostage/twostage/registry"
)

// Labels the pipeline and the backends put on every revision they create.
// Keys and values follow the GCP label rules (lower-case letters, digits, '_'
// and '-', at most 63 characters).
const (
	// LabelManagedBy marks revisions created through this module; its value
	// is "twostage".
	LabelManagedBy = "managed-by"
	// LabelCommit holds the full commit SHA the revision was built from.
	LabelCommit = "twostage-commit"
	// LabelRef holds the git ref that triggered the deploy, sanitised to a
	// label value ("main", "v1-4-2").
	LabelRef = "twostage-ref"
)

// Traffic says how a deploy routes traffic to the new revision.
type Traffic string

const (
	// RouteAll sends 100% of traffic to the new revision (the dev stage).
	RouteAll Traffic = "all"
	// RouteNone creates the revision with 0% traffic, keeping whoever serves
	// now, like "gcloud run deploy --no-traffic" (the prod stage). It is
	// refused on a service that does not exist yet.
	RouteNone Traffic = "none"
)

// Release is what to deploy.
type Release struct {
	// Artifact is the image to run, deployed by digest.
	Artifact registry.Artifact
	// Revision is the revision name, "<service>-<suffix>", or only the
	// suffix; a value not starting with "<service>-" is taken as a suffix and
	// joined with the service name by [RevisionName]. Use [DevSuffix] and
	// [ReleaseSuffix] to derive it.
	// Empty lets the backend generate a name, which defeats adoption on
	// re-run: the pipeline always sets it.
	Revision string
	// Traffic is RouteAll or RouteNone. The zero value is refused.
	Traffic Traffic
	// Tags are revision tags to point at the new revision (each gets its own
	// URL), for example "candidate". They must be DNS labels.
	Tags []string
	// Labels are set on the new revision, in addition to the backend's own.
	Labels map[string]string
	// Overrides are the stage's own settings applied onto the service's
	// current revision template (env vars, secret references, service
	// account, CPU/memory, scaling, concurrency, labels); every setting they
	// do not name is carried over unchanged. The zero value changes nothing
	// but the image. Overrides are part of the revision's identity: a
	// revision of the same name with the same artifact, labels and
	// overrides is adopted; with different overrides the deploy is refused
	// with [twostage.ErrConflict]. Deploy validates them first
	// ([Overrides.Validate]) and fails with [twostage.ErrInvalid] before any
	// API call.
	Overrides Overrides
	// Version, if set, makes the deploy conditional on the service's
	// traffic Version (traffic.Split.Version, the Cloud Run etag) being
	// still the one given: a deploy to a service written since (by another
	// release, a rollout step, anyone) fails with [twostage.ErrConflict]
	// and writes nothing, even one that would adopt an existing revision.
	// A caller that read the split to decide (is a rollout under way? which
	// revision serves?) sets it, so that two racing releases cannot both
	// win and a returned tag URL reaches the returned revision. Empty
	// deploys whatever the service's state, as before.
	Version string
}

// Revision is a deployed, immutable revision of a stage.
type Revision struct {
	// Name is the short revision name, "<service>-<suffix>".
	Name string
	// Artifact is the image the revision runs.
	Artifact registry.Artifact
	// Ready reports whether the revision passed its readiness checks.
	Ready bool
	// URL is the service URL (traffic there follows the split).
	URL string
	// TagURLs maps each tag pointing at this revision to its URL, which
	// always reaches this revision whatever the split.
	TagURLs map[string]string
	// Created is when the revision was created.
	Created time.Time
	// Labels are the revision's labels.
	Labels map[string]string
}

// Stage is a place a release can run, such as a Cloud Run service.
//
// Implementations must be safe for concurrent use.
type Stage interface {
	// Deploy creates the revision r describes and routes traffic as
	// r.Traffic says, waiting until the revision is ready.
	//
	// Deploy is idempotent for the same Release: if a revision of that name
	// already runs the same artifact with the same configuration, it is
	// adopted and returned without a new one being created, and traffic is
	// routed as asked. A revision of that name with a different
	// configuration is refused with [twostage.ErrConflict]. A revision that
	// fails to become ready yields [twostage.ErrNotReady] and leaves traffic
	// as it was. A RouteNone deploy never changes who serves traffic.
	Deploy(ctx context.Context, r Release) (Revision, error)
}

// Lister is implemented by stages that can list their revisions.
type Lister interface {
	// Revisions yields the stage's revisions, newest first. Iteration stops
	// at the first error, which is yielded with a zero Revision.
	Revisions(ctx context.Context) iter.Seq2[Revision, error]
}

// Getter is implemented by stages that can read one revision.
type Getter interface {
	// Revision returns the revision called name, either the full
	// "<service>-<suffix>" or only the suffix, as in [Release.Revision]. A
	// revision that does not exist yields an error wrapping
	// [twostage.ErrNotFound].
	Revision(ctx context.Context, name string) (Revision, error)
}

// Deleter is implemented by stages that can delete a revision, which
// pruning needs (pipeline.Prune).
type Deleter interface {
	// DeleteRevision deletes the revision called name, the full
	// "<service>-<suffix>" or only the suffix, and waits until it is gone.
	// A revision that serves traffic, holds a tag or is the service's
	// latest cannot be deleted: the error wraps [twostage.ErrConflict] and
	// the revision stays. A revision that does not exist yields an error
	// wrapping [twostage.ErrNotFound].
	DeleteRevision(ctx context.Context, name string) error
}

// Drifter is implemented by stages that can compare the declared overrides
// with the settings the service runs with now (its live revision template,
// which the next deploy inherits), so that a reviewer sees configuration
// changed elsewhere (Terraform, the console) before a release.
type Drifter interface {
	// Drift returns the differences between declared and the live
	// template, in a stable order (see [Drift]); an empty Drift means none.
	// declared must be valid ([Overrides.Validate]), otherwise the error
	// wraps [twostage.ErrInvalid]. A service that does not exist yields an
	// error wrapping [twostage.ErrNotFound].
	Drift(ctx context.Context, declared Overrides) (Drift, error)
}

// Namer is implemented by stages that know their service name, which
// revision-name derivation needs.
type Namer interface {
	// Name returns the short service name, such as "api-prod".
	Name() string
}
