package provision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/wif"
	iam "google.golang.org/api/iam/v1"
)

// Op is what a [Change] does.
type Op string

// Ops of a [Diff].
const (
	// OpCreate creates a pool or provider, or adds a binding.
	OpCreate Op = "+"
	// OpUpdate patches fields of a pool or provider.
	OpUpdate Op = "~"
)

// FieldChange is one field a [Change] updates.
type FieldChange struct {
	Field    string
	Old, New string
}

// Change is one step of a [Diff].
type Change struct {
	Op Op
	// Kind is "pool", "provider" or "binding".
	Kind string
	// Name is the pool or provider resource name; for a binding, the
	// binding's String.
	Name string
	// Fields lists the updated fields of an OpUpdate.
	Fields []FieldChange
	// Binding is the binding to add (Kind "binding").
	Binding *Binding
}

// String renders the change on one line per field.
func (c Change) String() string {
	if c.Op == OpUpdate {
		var lines []string
		for _, f := range c.Fields {
			lines = append(lines, fmt.Sprintf("~ %s %s %s: %s → %s", c.Kind, c.Name, f.Field, f.Old, f.New))
		}
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("%s %s %s", c.Op, c.Kind, c.Name)
}

// Diff is the difference between what exists and a [Setup]: the changes
// [Manager.Apply] will make, in order (pool, provider, bindings).
type Diff struct {
	// Setup is the declared state the plan leads to.
	Setup Setup
	// Changes are empty when everything already exists as declared.
	Changes []Change
}

// Empty reports whether the plan changes nothing.
func (p *Diff) Empty() bool { return p == nil || len(p.Changes) == 0 }

// String renders the plan as a readable diff, one change per line:
// "+ pool …", "~ provider … attributeCondition: old → new",
// "+ binding roles/… member … on …", or "no changes".
func (p *Diff) String() string {
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

// Plan validates s and compares it with what exists: a missing pool or
// provider is created, differing fields are updated, and every declared
// binding absent from its resource's policy is added. Bindings that exist
// but are not declared are left alone: a plan never removes anything.
func (m *Manager) Plan(ctx context.Context, s Setup) (*Diff, error) {
	if m.iam == nil {
		return nil, fmt.Errorf("wif: planning: no IAM service: pass WithIAMService: %w", twostage.ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.Clone()
	plan := &Diff{Setup: s}
	pools := m.iam.Projects.Locations.WorkloadIdentityPools

	pool, err := retryCall(ctx, m, func(ctx context.Context) (*iam.WorkloadIdentityPool, error) {
		return pools.Get(s.Pool.Name()).Context(ctx).Do()
	})
	switch {
	case isNotFound(err):
		plan.Changes = append(plan.Changes, Change{Op: OpCreate, Kind: "pool", Name: s.Pool.Name()})
	case err != nil:
		return nil, gcperr.Wrap(err, "wif: reading pool %q", s.Pool.Name())
	default:
		if f := poolDiff(pool, s.Pool); len(f) > 0 {
			plan.Changes = append(plan.Changes, Change{Op: OpUpdate, Kind: "pool", Name: s.Pool.Name(), Fields: f})
		}
	}

	prov, err := retryCall(ctx, m, func(ctx context.Context) (*iam.WorkloadIdentityPoolProvider, error) {
		return pools.Providers.Get(s.Provider.Name()).Context(ctx).Do()
	})
	switch {
	case isNotFound(err):
		plan.Changes = append(plan.Changes, Change{Op: OpCreate, Kind: "provider", Name: s.Provider.Name()})
	case err != nil:
		return nil, gcperr.Wrap(err, "wif: reading provider %q", s.Provider.Name())
	default:
		if f := providerDiff(prov, s.Provider); len(f) > 0 {
			plan.Changes = append(plan.Changes, Change{Op: OpUpdate, Kind: "provider", Name: s.Provider.Name(), Fields: f})
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
			plan.Changes = append(plan.Changes, Change{Op: OpCreate, Kind: "binding", Name: b.String(), Binding: &b})
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
func poolDiff(got *iam.WorkloadIdentityPool, want wif.Pool) []FieldChange {
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
func providerDiff(got *iam.WorkloadIdentityPoolProvider, want wif.Provider) []FieldChange {
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
