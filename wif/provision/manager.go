package provision

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"github.com/twostage/twostage/internal/gcperr"
	iam "google.golang.org/api/iam/v1"
)

// Manager plans and applies a [Setup] against Google Cloud: pools and
// providers through the IAM v1 REST API, role bindings through one
// [PolicyStore] per [ResourceKind]. Create one with [NewManager]. A Manager
// is safe for concurrent use; concurrent Applies of overlapping setups are
// safe too, because policy writes are conditional on etags.
type Manager struct {
	iam    *iam.Service
	stores map[ResourceKind]PolicyStore
	log    *slog.Logger
	clock  twostage.Clock
	retry  twostage.Retry
}

// Option configures [NewManager].
type Option func(*Manager)

// WithIAMService sets the IAM v1 client used for pools and providers, and
// (unless [WithPolicyStore] sets another) for service-account policies.
// There is no default: Plan and Apply fail without it.
func WithIAMService(svc *iam.Service) Option {
	return func(m *Manager) { m.iam = svc }
}

// WithProjectsClient sets the Resource Manager client used for project
// policies (a shorthand for WithPolicyStore(ResourceProject,
// ProjectPolicyStore(c))). The default is none: a binding on a project
// then fails to plan.
func WithProjectsClient(c *resourcemanager.ProjectsClient) Option {
	return WithPolicyStore(ResourceProject, ProjectPolicyStore(c))
}

// WithPolicyStore sets the store of the IAM policies of kind. The defaults:
// service accounts use [ServiceAccountPolicyStore] over the IAM service;
// other kinds have none (use [ClientPolicyStore] with a
// *run.ServicesClient or an *artifactregistry.Client).
func WithPolicyStore(kind ResourceKind, s PolicyStore) Option {
	return func(m *Manager) { m.stores[kind] = s }
}

// WithLogger sets the logger of the changes applied. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) {
		if l != nil {
			m.log = l
		}
	}
}

// WithClock sets the clock that paces operation polling and conflict
// retries. The default is [twostage.SystemClock].
func WithClock(c twostage.Clock) Option {
	return func(m *Manager) {
		if c != nil {
			m.clock = c
		}
	}
}

// defaultRetry is the retry policy of a Manager without [WithRetry].
func defaultRetry() twostage.Retry {
	return twostage.Retry{Attempts: 5, Initial: 250 * time.Millisecond, Max: 5 * time.Second}
}

// WithRetry sets how transient failures ([twostage.IsTemporary], HTTP
// 429/502/503/504, UNAVAILABLE, RESOURCE_EXHAUSTED) and lost
// read-modify-write races of one policy are retried; Attempts also bounds
// the polls of one operation (times 10). The default is 5 attempts, 250ms
// growing to 5s; zero fields take these defaults.
func WithRetry(r twostage.Retry) Option {
	return func(m *Manager) { m.retry = r.Or(defaultRetry()) }
}

// NewManager returns a Manager.
func NewManager(opts ...Option) *Manager {
	m := &Manager{
		stores: map[ResourceKind]PolicyStore{},
		log:    slog.New(slog.DiscardHandler),
		clock:  twostage.SystemClock(),
		retry:  defaultRetry(),
	}
	for _, o := range opts {
		o(m)
	}
	if _, ok := m.stores[ResourceServiceAccount]; !ok && m.iam != nil {
		m.stores[ResourceServiceAccount] = ServiceAccountPolicyStore(m.iam)
	}
	return m
}

func (m *Manager) store(kind ResourceKind) (PolicyStore, error) {
	s, ok := m.stores[kind]
	if !ok {
		return nil, fmt.Errorf("wif: no policy store for %s resources: configure one with WithPolicyStore(%q, …): %w", kind, kind, twostage.ErrInvalid)
	}
	return s, nil
}

// policy returns the backoff policy of m's retries.
func (m *Manager) policy() backoff.Policy {
	return backoff.Policy{Initial: m.retry.Initial, Max: m.retry.Max}
}

// transient reports whether err is worth retrying: marked temporary
// ([twostage.IsTemporary]) or a transient Google API status.
func transient(err error) bool { return twostage.IsTemporary(err) || gcperr.Retryable(err) }

// retryCall makes one API call, retrying transient failures (HTTP
// 429/502/503/504, UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) with
// backoff on the manager's clock, up to its attempts. Creates are safe to
// retry: one that was applied before its answer was lost comes back as
// "already exists", which the callers treat as created.
func retryCall[T any](ctx context.Context, m *Manager, call func(ctx context.Context) (T, error)) (T, error) {
	var out T
	err := backoff.Retry(ctx, m.clock, m.policy(), m.retry.Attempts, transient, func(ctx context.Context) error {
		var err error
		out, err = call(ctx)
		return err
	})
	return out, err
}
