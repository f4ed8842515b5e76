package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/wif"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
)

// Apply makes the changes of p, in order, and is idempotent: applying a
// plan whose changes were already made (by an earlier Apply or by someone
// else) changes nothing more. Pools and providers are created or patched
// and their long-running operations awaited; a create that finds the
// resource already there patches it to the declared fields instead.
//
// Bindings are added per resource with a read-modify-write: read the policy
// (version 3), add only the declared bindings that are missing, write it
// back conditionally on the etag (version 3). When the write loses to a
// concurrent change (ABORTED / 409), the policy is read again and only our
// bindings are re-applied to the new one, with backoff on the Manager's
// clock; someone else's binding or member is never removed.
func (m *Manager) Apply(ctx context.Context, p *Diff) error {
	if p.Empty() {
		return nil
	}
	if m.iam == nil {
		return fmt.Errorf("wif: applying: no IAM service: pass WithIAMService: %w", twostage.ErrInvalid)
	}
	s := p.Setup
	var byResource []Resource
	pending := map[string][]Binding{}
	for _, c := range p.Changes {
		var err error
		switch {
		case c.Kind == "pool":
			err = m.applyPool(ctx, s.Pool, c.Op == OpCreate)
		case c.Kind == "provider":
			err = m.applyProvider(ctx, s.Provider, c.Op == OpCreate)
		case c.Kind == "binding" && c.Binding != nil:
			k := string(c.Binding.Resource.Kind) + " " + c.Binding.Resource.Name
			if _, ok := pending[k]; !ok {
				byResource = append(byResource, c.Binding.Resource)
			}
			pending[k] = append(pending[k], *c.Binding)
		default:
			err = fmt.Errorf("wif: applying: unknown change %q: %w", c.String(), twostage.ErrInvalid)
		}
		if err != nil {
			return err
		}
	}
	for _, r := range byResource {
		if err := m.addBindings(ctx, r, pending[string(r.Kind)+" "+r.Name]); err != nil {
			return err
		}
	}
	return nil
}

func restPool(p wif.Pool) *iam.WorkloadIdentityPool {
	return &iam.WorkloadIdentityPool{DisplayName: p.DisplayName, Description: p.Description, Disabled: p.Disabled}
}

func restProvider(p wif.Provider) *iam.WorkloadIdentityPoolProvider {
	return &iam.WorkloadIdentityPoolProvider{
		AttributeMapping:   p.Clone().AttributeMapping,
		AttributeCondition: p.AttributeCondition,
		Oidc:               &iam.Oidc{IssuerUri: p.IssuerURI(), AllowedAudiences: p.Clone().AllowedAudiences},
		// Disabled false must be sent on patch to re-enable a provider.
		ForceSendFields: []string{"Disabled"},
	}
}

func isAlreadyExists(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusConflict
}

func (m *Manager) applyPool(ctx context.Context, p wif.Pool, create bool) error {
	pools := m.iam.Projects.Locations.WorkloadIdentityPools
	if create {
		parent := strings.TrimSuffix(p.Name(), "/workloadIdentityPools/"+p.ID)
		op, err := retryCall(ctx, m, func(ctx context.Context) (*iam.Operation, error) {
			return pools.Create(parent, restPool(p)).WorkloadIdentityPoolId(p.ID).Context(ctx).Do()
		})
		if err == nil {
			m.log.InfoContext(ctx, "wif: creating pool", "pool", p.Name())
			return m.wait(ctx, op)
		}
		if !isAlreadyExists(err) {
			return gcperr.Wrap(err, "wif: creating pool %q", p.Name())
		}
		// Created since the plan was made: make it match.
	}
	got, err := retryCall(ctx, m, func(ctx context.Context) (*iam.WorkloadIdentityPool, error) {
		return pools.Get(p.Name()).Context(ctx).Do()
	})
	if err != nil {
		return gcperr.Wrap(err, "wif: reading pool %q", p.Name())
	}
	fields := poolDiff(got, p)
	if len(fields) == 0 {
		return nil
	}
	mask := make([]string, len(fields))
	for i, f := range fields {
		mask[i] = f.Field
	}
	body := restPool(p)
	body.ForceSendFields = []string{"DisplayName", "Description", "Disabled"}
	op, err := retryCall(ctx, m, func(ctx context.Context) (*iam.Operation, error) {
		return pools.Patch(p.Name(), body).UpdateMask(strings.Join(mask, ",")).Context(ctx).Do()
	})
	if err != nil {
		return gcperr.Wrap(err, "wif: updating pool %q (%s)", p.Name(), strings.Join(mask, ", "))
	}
	m.log.InfoContext(ctx, "wif: updating pool", "pool", p.Name(), "fields", mask)
	return m.wait(ctx, op)
}

func (m *Manager) applyProvider(ctx context.Context, p wif.Provider, create bool) error {
	provs := m.iam.Projects.Locations.WorkloadIdentityPools.Providers
	if create {
		op, err := retryCall(ctx, m, func(ctx context.Context) (*iam.Operation, error) {
			return provs.Create(p.Pool.Name(), restProvider(p)).WorkloadIdentityPoolProviderId(p.ID).Context(ctx).Do()
		})
		if err == nil {
			m.log.InfoContext(ctx, "wif: creating provider", "provider", p.Name())
			return m.wait(ctx, op)
		}
		if !isAlreadyExists(err) {
			return gcperr.Wrap(err, "wif: creating provider %q", p.Name())
		}
	}
	got, err := retryCall(ctx, m, func(ctx context.Context) (*iam.WorkloadIdentityPoolProvider, error) {
		return provs.Get(p.Name()).Context(ctx).Do()
	})
	if err != nil {
		return gcperr.Wrap(err, "wif: reading provider %q", p.Name())
	}
	fields := providerDiff(got, p)
	if len(fields) == 0 {
		return nil
	}
	var mask []string
	seen := map[string]bool{}
	for _, f := range fields {
		name := f.Field
		if strings.HasPrefix(name, "attributeMapping[") {
			name = "attributeMapping" // the mapping is replaced whole
		}
		if !seen[name] {
			seen[name] = true
			mask = append(mask, name)
		}
	}
	body := restProvider(p)
	body.ForceSendFields = append(body.ForceSendFields, "AttributeCondition")
	op, err := retryCall(ctx, m, func(ctx context.Context) (*iam.Operation, error) {
		return provs.Patch(p.Name(), body).UpdateMask(strings.Join(mask, ",")).Context(ctx).Do()
	})
	if err != nil {
		return gcperr.Wrap(err, "wif: updating provider %q (%s)", p.Name(), strings.Join(mask, ", "))
	}
	m.log.InfoContext(ctx, "wif: updating provider", "provider", p.Name(), "fields", mask)
	return m.wait(ctx, op)
}

// wait polls op until it is done, on the Manager's clock.
func (m *Manager) wait(ctx context.Context, op *iam.Operation) error {
	pools := m.iam.Projects.Locations.WorkloadIdentityPools
	pol := backoff.Policy{Initial: 500 * time.Millisecond, Max: 10 * time.Second}
	for i := 0; !op.Done; i++ {
		if i >= m.retry.Attempts*10 {
			return fmt.Errorf("wif: operation %q still running after %d polls: %w", op.Name, i, twostage.ErrNotReady)
		}
		if err := m.clock.Sleep(ctx, pol.Delay(i)); err != nil {
			return fmt.Errorf("wif: waiting for operation %q: %w", op.Name, err)
		}
		var err error
		if strings.Contains(op.Name, "/providers/") {
			op, err = pools.Providers.Operations.Get(op.Name).Context(ctx).Do()
		} else {
			op, err = pools.Operations.Get(op.Name).Context(ctx).Do()
		}
		if err != nil && !transient(err) {
			return gcperr.Wrap(err, "wif: polling operation")
		}
		if err != nil {
			op = &iam.Operation{Name: op.Name}
		}
	}
	if op.Error != nil {
		return fmt.Errorf("wif: operation %q failed: %s (code %d)", op.Name, op.Error.Message, op.Error.Code)
	}
	return nil
}

// addBindings adds bs to the policy of r, re-reading and retrying when a
// concurrent change wins the race.
func (m *Manager) addBindings(ctx context.Context, r Resource, bs []Binding) error {
	st, err := m.store(r.Kind)
	if err != nil {
		return err
	}
	attempt := 0
	retryable := func(err error) bool { return errors.Is(err, twostage.ErrConflict) || transient(err) }
	err = backoff.Retry(ctx, m.clock, m.policy(), m.retry.Attempts, retryable, func(ctx context.Context) error {
		attempt++
		cur, err := st.GetPolicy(ctx, r.Name)
		if err != nil {
			return err
		}
		next, added := withBindings(cur, bs)
		if added == 0 {
			return nil
		}
		if _, err := st.SetPolicy(ctx, r.Name, next); err != nil {
			if errors.Is(err, twostage.ErrConflict) {
				m.log.InfoContext(ctx, "wif: policy changed concurrently; re-reading", "resource", r.Name, "attempt", attempt)
			}
			return err
		}
		m.log.InfoContext(ctx, "wif: added bindings", "resource", r.Name, "added", added)
		return nil
	})
	if err != nil {
		return fmt.Errorf("wif: adding %d binding(s) on %s after %d attempt(s): %w", len(bs), r, attempt, err)
	}
	return nil
}
