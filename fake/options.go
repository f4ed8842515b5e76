package fake

import (
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

// RegistryOption configures [NewRegistry].
type RegistryOption interface {
	applyRegistry(*Registry)
}

// ServiceOption configures [NewService].
type ServiceOption interface {
	applyService(*Service)
}

// Option configures both [NewRegistry] and [NewService].
type Option interface {
	RegistryOption
	ServiceOption
}

type registryOption func(*Registry)

func (o registryOption) applyRegistry(r *Registry) { o(r) }

type serviceOption func(*Service)

func (o serviceOption) applyService(s *Service) { o(s) }

type clockOption struct{ c twostage.Clock }

func (o clockOption) applyRegistry(r *Registry) { r.clock = o.c }
func (o clockOption) applyService(s *Service)   { s.clock = o.c }

// WithClock sets the clock that stamps [Call.At] and, on a Service,
// [stage.Revision.Created]. The default is a [NewClock] of the zero time,
// private to the fake (it never advances unless the fake is given a clock
// the test controls). A nil c keeps the default.
func WithClock(c twostage.Clock) Option { return clockOption{c} }

// WithRegistryFuncs installs fault hooks on a Registry. The default is no
// hooks: every call passes through.
func WithRegistryFuncs(f RegistryFuncs) RegistryOption {
	return registryOption(func(r *Registry) { r.funcs = f })
}

// WithServiceFuncs installs fault hooks on a Service. The default is no
// hooks: every call passes through.
func WithServiceFuncs(f ServiceFuncs) ServiceOption {
	return serviceOption(func(s *Service) { s.funcs = f })
}

// WithURL sets the service URL, "https://HOST" (tag URLs are
// "https://TAG---HOST"). The default is "https://NAME-abc123xyz-ew.a.run.app",
// the shape of a Cloud Run URL.
func WithURL(base string) ServiceOption {
	return serviceOption(func(s *Service) { s.url = base })
}

// WithReadiness sets the readiness check of new revisions: a non-nil error
// means the revision named revisionName, created from r, fails to become
// ready, with the error as the reason. It is called with the service's lock
// held, so it must not call methods of the Service. The default: every
// revision becomes ready, except those named in [Service.FailRevision].
func WithReadiness(f func(r stage.Release, revisionName string) error) ServiceOption {
	return serviceOption(func(s *Service) { s.readiness = f })
}

// WithDeployed seeds a Service: NewService deploys each release in order,
// as Deploy would, without hooks and without recording calls, and panics if
// one fails (a test helper). Start with a [stage.RouteAll] release, which
// creates the service. The default is a service that does not exist yet.
func WithDeployed(releases ...stage.Release) ServiceOption {
	return serviceOption(func(s *Service) { s.seed = append(s.seed, releases...) })
}

// WithTemplate seeds the settings of a Service's revision template, as if
// set elsewhere (Terraform, the console) before the first deploy: every
// revision the Service creates inherits them, with the release's
// [stage.Overrides] applied (see [Service.Deploy]). settings.RemoveEnv is
// ignored. The default is a template with no settings (Cloud Run's
// defaults).
func WithTemplate(settings stage.Overrides) ServiceOption {
	return serviceOption(func(s *Service) {
		s.live = settings.Clone()
		s.live.RemoveEnv = nil
	})
}

// WithImmutableTags makes a Registry refuse to move a tag, as an Artifact
// Registry repository with docker_config.immutable_tags does: a Push or Tag
// that would point an existing tag at another digest fails with
// [twostage.ErrConflict]. The default is mutable tags, like most
// registries.
func WithImmutableTags() RegistryOption {
	return registryOption(func(r *Registry) { r.immutable = true })
}

// WithTag seeds a Registry: ref, "HOST/PATH:TAG", resolves to digest, as
// after [Registry.Seed]. It panics on a malformed ref or digest (a test
// helper). The default is an empty registry.
func WithTag(ref, digest string) RegistryOption {
	return registryOption(func(r *Registry) { r.Seed(ref, digest) })
}

// Call records one call to a fake, as returned by [Registry.Calls] and
// [Service.Calls].
type Call struct {
	// Method is the method name, such as "Push" or "SetSplit".
	Method string
	// Arg is a human summary of the argument: the reference, the revision
	// name, or the split written; empty when the method takes none.
	Arg string
	// Err is the error the call returned, after any fault hook.
	Err error
	// At is when the call returned, from the fake's clock (see [WithClock]).
	At time.Time
}
