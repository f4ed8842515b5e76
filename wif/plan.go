package wif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/twostage/twostage/internal/backoff"

	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	iam "google.golang.org/api/iam/v1"
)

// Manager plans and applies a [Setup] against Google Cloud: pools and
// providers through the IAM v1 REST API, role bindings through one
// [PolicyStore] per [ResourceKind]. Create one with [NewManager]. A Manager
// is safe for concurrent use; concurrent Applies of overlapping setups are
// safe too, because policy writes are conditional on etags.
type Manager struct {
	iam      *iam.Service
	stores   map[ResourceKind]PolicyStore
	log      *slog.Logger
	clock    twostage.Clock
	attempts int
}

// ManagerOption configures [NewManager]. Token sources have options of
// their own; the two kinds are separate so that neither silently ignores
// the other's settings.
type ManagerOption func(*Manager)

// WithIAMService sets the IAM v1 client used for pools and providers, and
// (unless [WithPolicyStore] sets another) for service-account policies.
// There is no default: Plan and Apply fail without it.
func WithIAMService(svc *iam.Service) ManagerOption {
	return func(m *Manager) { m.iam = svc }
}

// WithProjectsClient sets the Resource Manager client used for project
// policies (a shorthand for WithPolicyStore(ResourceProject,
// ProjectPolicyStore(c))). The default is none: a binding on a project
// then fails to plan.
func WithProjectsClient(c *resourcemanager.ProjectsClient) ManagerOption {
	return WithPolicyStore(ResourceProject, ProjectPolicyStore(c))
}

// WithPolicyStore sets the store of the IAM policies of kind. The defaults:
// service accounts use [ServiceAccountPolicyStore] over the IAM service;
// other kinds have none (use [ClientPolicyStore] with a
// *run.ServicesClient or an *artifactregistry.Client).
func WithPolicyStore(kind ResourceKind, s PolicyStore) ManagerOption {
	return func(m *Manager) { m.stores[kind] = s }
}

// WithManagerLogger sets the logger of the changes applied. The default discards.
func WithManagerLogger(l *slog.Logger) ManagerOption {
	return func(m *Manager) {
		if l != nil {
			m.log = l
		}
	}
}

// WithManagerClock sets the clock that paces operation polling and conflict
// retries. The default is [twostage.SystemClock].
func WithManagerClock(c twostage.Clock) ManagerOption {
	return func(m *Manager) {
		if c != nil {
			m.clock = c
		}
	}
}

// WithMaxAttempts bounds the read-modify-write attempts of one policy when
// writes keep losing to concurrent changes, and the polls of one operation
// (times 10). The default is 5.
func WithMaxAttempts(n int) ManagerOption {
	return func(m *Manager) {
		if n > 0 {
			m.attempts = n
		}
	}
}

// NewManager returns a Manager.
func NewManager(opts ...ManagerOption) *Manager {
	m := &Manager{
		stores:   map[ResourceKind]PolicyStore{},
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		clock:    twostage.SystemClock(),
		attempts: 5,
	}
	for _, o := range opts {
		o(m)
	}
	if _, ok := m.stores[ResourceServiceAccount]; !ok && m.iam != nil {
		m.stores[ResourceServiceAccount] = ServiceAccountPolicyStore(m.iam)
	}
	return m
}

// Action is what a [Change] does.
type Action string

// Actions of a plan.
const (
	// ActionCreate creates a pool or provider, or adds a binding.
	ActionCreate Action = "+"
	// ActionUpdate patches fields of a pool or provider.
	ActionUpdate Action = "~"
)

// FieldChange is one field a [Change] updates.
type FieldChange struct {
	Field    string
	Old, New string
}

// Change is one step of a [Plan].
type Change struct {
	Action Action
	// Kind is "pool", "provider" or "binding".
	Kind string
	// Name is the pool or provider resource name; for a binding, the
	// binding's String.
	Name string
	// Fields lists the updated fields of an ActionUpdate.
	Fields []FieldChange
	// Binding is the binding to add (Kind "binding").
	Binding *Binding
}

// String renders the change on one line per field.
func (c Change) String() string {
	if c.Action == ActionUpdate {
		var lines []string
		for _, f := range c.Fields {
			lines = append(lines, fmt.Sprintf("~ %s %s %s: %s → %s", c.Kind, c.Name, f.Field, f.Old, f.New))
		}
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("%s %s %s", c.Action, c.Kind, c.Name)
}

// Plan is the difference between what exists and a [Setup]: the changes
// [Manager.Apply] will make, in order (pool, provider, bindings).
type Plan struct {
	// Setup is the declared state the plan leads to.
	Setup Setup
	// Changes are empty when everything already exists as declared.
	Changes []Change
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p == nil || len(p.Changes) == 0 }

// String renders the plan as a readable diff, one change per line:
// "+ pool …", "~ provider … attributeCondition: old → new",
// "+ binding roles/… member … on …", or "no changes".
func (p *Plan) String() string {
	if p.Empty() {
		return "no changes"
	}
	var b strings.Builder
	for i, c := range p.Changes {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(c.String())
	}
	return b.String()
}

func (m *Manager) store(kind ResourceKind) (PolicyStore, error) {
	s, ok := m.stores[kind]
	if !ok {
		return nil, fmt.Errorf("wif: no policy store for %s resources: configure one with WithPolicyStore(%q, …): %w", kind, kind, twostage.ErrInvalid)
	}
	return s, nil
}

// Plan validates s and compares it with what exists: a missing pool or
// provider is created, differing fields are updated, and every declared
// binding absent from its resource's policy is added. Bindings that exist
// but are not declared are left alone: a plan never removes anything.
func (m *Manager) Plan(ctx context.Context, s Setup) (*Plan, error) {
	if m.iam == nil {
		return nil, fmt.Errorf("wif: planning: no IAM service: pass WithIAMService: %w", twostage.ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.Clone()
	plan := &Plan{Setup: s}
	pools := m.iam.Projects.Locations.WorkloadIdentityPools

	pool, err := retryCall(ctx, m, func(ctx context.Context) (*iam.WorkloadIdentityPool, error) {
		return pools.Get(s.Pool.Name()).Context(ctx).Do()
	})
	switch {
	case isNotFound(err):
		plan.Changes = append(plan.Changes, Change{Action: ActionCreate, Kind: "pool", Name: s.Pool.Name()})
	case err != nil:
		return nil, gcperr.Wrap(err, "wif: reading pool %q", s.Pool.Name())
	default:
		if f := poolDiff(pool, s.Pool); len(f) > 0 {
			plan.Changes = append(plan.Changes, Change{Action: ActionUpdate, Kind: "pool", Name: s.Pool.Name(), Fields: f})
		}
	}

	prov, err := retryCall(ctx, m, func(ctx context.Context) (*iam.WorkloadIdentityPoolProvider, error) {
		return pools.Providers.Get(s.Provider.Name()).Context(ctx).Do()
	})
	switch {
	case isNotFound(err):
		plan.Changes = append(plan.Changes, Change{Action: ActionCreate, Kind: "provider", Name: s.Provider.Name()})
	case err != nil:
		return nil, gcperr.Wrap(err, "wif: reading provider %q", s.Provider.Name())
	default:
		if f := providerDiff(prov, s.Provider); len(f) > 0 {
			plan.Changes = append(plan.Changes, Change{Action: ActionUpdate, Kind: "provider", Name: s.Provider.Name(), Fields: f})
		}
	}

	for _, r := range s.resources() {
		st, err := m.store(r.Kind)
		if err != nil {
			return nil, err
		}
		pol, err := retryCall(ctx, m, func(ctx context.Context) (*iampb.Policy, error) { return st.GetPolicy(ctx, r.Name) })
		if err != nil {
			return nil, fmt.Errorf("wif: planning bindings on %s: %w", r, err)
		}
		for _, b := range s.Bindings {
			if b.Resource.Kind != r.Kind || b.Resource.Name != r.Name || hasBinding(pol, b) {
				continue
			}
			b := b
			plan.Changes = append(plan.Changes, Change{Action: ActionCreate, Kind: "binding", Name: b.String(), Binding: &b})
		}
	}
	return plan, nil
}

func isNotFound(err error) bool {
	return err != nil && errors.Is(gcperr.Wrap(err, ""), twostage.ErrNotFound)
}

func quote(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", s)
}

// poolDiff lists the fields of the declared pool that differ from got.
func poolDiff(got *iam.WorkloadIdentityPool, want Pool) []FieldChange {
	var out []FieldChange
	if got.DisplayName != want.DisplayName {
		out = append(out, FieldChange{"displayName", quote(got.DisplayName), quote(want.DisplayName)})
	}
	if got.Description != want.Description {
		out = append(out, FieldChange{"description", quote(got.Description), quote(want.Description)})
	}
	if got.Disabled != want.Disabled {
		out = append(out, FieldChange{"disabled", fmt.Sprint(got.Disabled), fmt.Sprint(want.Disabled)})
	}
	return out
}

// providerDiff lists the fields of the declared provider that differ
// from got. Mapping keys are compared one by one.
func providerDiff(got *iam.WorkloadIdentityPoolProvider, want Provider) []FieldChange {
	var out []FieldChange
	var issuer string
	var auds []string
	if got.Oidc != nil {
		issuer, auds = got.Oidc.IssuerUri, got.Oidc.AllowedAudiences
	}
	if issuer != want.IssuerURI() {
		out = append(out, FieldChange{"oidc.issuerUri", quote(issuer), quote(want.IssuerURI())})
	}
	if !slices.Equal(auds, want.AllowedAudiences) {
		out = append(out, FieldChange{"oidc.allowedAudiences", fmt.Sprintf("%q", auds), fmt.Sprintf("%q", want.AllowedAudiences)})
	}
	keys := slices.Sorted(maps.Keys(got.AttributeMapping))
	for _, k := range sortedKeys(want.AttributeMapping) {
		if _, ok := got.AttributeMapping[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, n := got.AttributeMapping[k], want.AttributeMapping[k]
		if o != n {
			out = append(out, FieldChange{"attributeMapping[" + k + "]", quote(o), quote(n)})
		}
	}
	if got.AttributeCondition != want.AttributeCondition {
		out = append(out, FieldChange{"attributeCondition", quote(got.AttributeCondition), quote(want.AttributeCondition)})
	}
	if got.Disabled {
		out = append(out, FieldChange{"disabled", "true", "false"})
	}
	return out
}

// retryCall makes one API call, retrying transient failures (HTTP
// 429/502/503/504, UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) with
// backoff on the manager's clock, up to its attempts. Creates are safe to
// retry: one that was applied before its answer was lost comes back as
// "already exists", which the callers treat as created.
func retryCall[T any](ctx context.Context, m *Manager, call func(ctx context.Context) (T, error)) (T, error) {
	var out T
	err := backoff.Retry(ctx, m.clock, backoff.Policy{}, m.attempts, gcperr.Retryable, func(ctx context.Context) error {
		var err error
		out, err = call(ctx)
		return err
	})
	return out, err
}
