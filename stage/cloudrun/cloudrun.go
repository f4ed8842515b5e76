package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/backoff"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// StateAnnotation is the service annotation that holds [traffic.Split.State].
// It is outside the namespaces Cloud Run reserves (run.googleapis.com,
// cloud.googleapis.com, serving.knative.dev, autoscaling.knative.dev; runpb
// Service.annotations) and is a valid Kubernetes annotation key
// (prefix "twostage.dev", name "rollout").
const StateAnnotation = "twostage.dev/rollout"

// ManagedByValue is the value of the [stage.LabelManagedBy] label set on
// every revision this package deploys.
const ManagedByValue = "twostage"

// defaultRetry is the retry policy unless [WithRetry] says otherwise.
func defaultRetry() twostage.Retry {
	return twostage.Retry{Attempts: 5, Initial: 250 * time.Millisecond, Max: 5 * time.Second}
}

// Service is one Cloud Run service. It is safe for concurrent use.
type Service struct {
	name     string // projects/P/locations/R/services/S
	short    string // S
	services *run.ServicesClient
	revs     *run.RevisionsClient
	closers  []func() error // clients New created

	log       *slog.Logger
	clock     twostage.Clock
	policy    backoff.Policy
	poll      backoff.Policy
	attempts  int
	template  *runpb.RevisionTemplate
	container string

	mu   sync.Mutex     // guards last
	last *runpb.Service // the service as last read or written; never mutated
}

var (
	_ stage.Stage    = (*Service)(nil)
	_ stage.Lister   = (*Service)(nil)
	_ stage.Namer    = (*Service)(nil)
	_ stage.Getter   = (*Service)(nil)
	_ stage.Drifter  = (*Service)(nil)
	_ stage.Deleter  = (*Service)(nil)
	_ traffic.Router = (*Service)(nil)
)

// Option configures a [Service].
type Option func(*config)

type config struct {
	clientOpts []option.ClientOption
	services   *run.ServicesClient
	revs       *run.RevisionsClient
	log        *slog.Logger
	clock      twostage.Clock
	retry      twostage.Retry
	poll       backoff.Policy
	jitter     func() float64 // tests only: see export_test.go
	template   *runpb.RevisionTemplate
	container  string
	rest       bool // WithREST
}

// WithClientOptions passes options to the API clients New creates, for
// example an emulator's endpoint and credentials. The default is the gapic
// defaults: run.googleapis.com with Application Default Credentials.
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithServicesClient uses a ready-made Services client, which Close leaves
// open. The default is a client New creates from [WithClientOptions].
func WithServicesClient(sc *run.ServicesClient) Option {
	return func(c *config) { c.services = sc }
}

// WithRevisionsClient uses a ready-made Revisions client, which Close
// leaves open. The default is a client New creates from [WithClientOptions].
func WithRevisionsClient(rc *run.RevisionsClient) Option {
	return func(c *config) { c.revs = rc }
}

// WithLogger logs every write (service, revision, split before and after) at
// Info level to l. The default discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// WithClock sets the clock retries and operation polling wait on. The
// default is [twostage.SystemClock].
func WithClock(clk twostage.Clock) Option {
	return func(c *config) { c.clock = clk }
}

// WithRetry sets the backoff between attempts of a call that failed
// transiently (with 20% jitter) and the number of attempts (≥ 1; 1
// disables retries); the same bound applies to Deploy redoing a
// read-modify-write that lost an etag race. The default is 5 attempts,
// 250ms doubling up to 5s; zero fields of r keep their default.
func WithRetry(r twostage.Retry) Option {
	return func(c *config) { c.retry = r }
}

// WithPollInterval sets the delay between polls of an operation that is
// not done yet: initial, doubling up to max, with 20% jitter. The default
// starts at 1s and grows to 10s, like the gapic client's Wait; values ≤ 0
// keep the default.
func WithPollInterval(initial, max time.Duration) Option {
	return func(c *config) {
		if initial > 0 {
			c.poll.Initial = initial
		}
		if max > 0 {
			c.poll.Max = max
		}
	}
}

// WithTemplate sets the revision template used when a deploy creates the
// service (it is cloned; its image and revision name are set per deploy).
// Deploys to an existing service always start from the service's current
// template instead. The default is a template with one unnamed container.
func WithTemplate(t *runpb.RevisionTemplate) Option {
	return func(c *config) { c.template = t }
}

// WithContainer names the container whose image a deploy replaces. The
// default is the template's first container.
func WithContainer(name string) Option {
	return func(c *config) { c.container = name }
}

// New returns the Cloud Run service service, which must be a full resource
// name "projects/PROJECT/locations/REGION/services/SERVICE". The service need
// not exist yet: the first RouteAll deploy creates it. New makes no API call.
// Close releases the clients New created.
func New(ctx context.Context, service string, opts ...Option) (*Service, error) {
	short, err := parseServiceName(service)
	if err != nil {
		return nil, err
	}
	c := config{
		clock: twostage.SystemClock(),
		poll:  backoff.Policy{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2},
	}
	for _, o := range opts {
		o(&c)
	}
	policy, attempts := backoff.FromRetry(c.retry, defaultRetry())
	policy.Rand, c.poll.Rand = c.jitter, c.jitter
	if c.poll.Max < c.poll.Initial {
		c.poll.Max = c.poll.Initial
	}
	switch {
	case attempts < 1:
		return nil, fmt.Errorf("cloudrun: WithRetry attempts %d: want at least 1 (1 disables retries): %w", attempts, twostage.ErrInvalid)
	case c.clock == nil:
		return nil, fmt.Errorf("cloudrun: WithClock(nil): pass twostage.SystemClock() or a fake clock: %w", twostage.ErrInvalid)
	case c.template != nil && len(c.template.GetContainers()) == 0:
		return nil, fmt.Errorf("cloudrun: WithTemplate: the template has no container; add one for the image to run in: %w", twostage.ErrInvalid)
	}
	s := &Service{
		name:      service,
		short:     short,
		services:  c.services,
		revs:      c.revs,
		log:       c.log,
		clock:     c.clock,
		policy:    policy,
		poll:      c.poll,
		attempts:  attempts,
		container: c.container,
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.template != nil {
		s.template = proto.Clone(c.template).(*runpb.RevisionTemplate)
	} else {
		s.template = &runpb.RevisionTemplate{Containers: []*runpb.Container{{}}}
	}
	if s.services == nil {
		sc, err := c.newServicesClient(ctx)
		if err != nil {
			return nil, err
		}
		s.services = sc
		s.closers = append(s.closers, sc.Close)
	}
	if s.revs == nil {
		rc, err := c.newRevisionsClient(ctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.revs = rc
		s.closers = append(s.closers, rc.Close)
	}
	return s, nil
}

// Close closes the API clients New created; clients handed in with
// [WithServicesClient] or [WithRevisionsClient] stay open.
func (s *Service) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Name returns the short service name, such as "api-prod".
func (s *Service) Name() string { return s.short }

// ResourceName returns the full resource name,
// "projects/P/locations/R/services/S".
func (s *Service) ResourceName() string { return s.name }

// parseServiceName validates "projects/P/locations/R/services/S" and returns
// S. Service names follow Cloud Run's rule, [stage.ValidateServiceName].
func parseServiceName(name string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("cloudrun: service %q: %s; want \"projects/PROJECT/locations/REGION/services/SERVICE\": %w", name, why, twostage.ErrInvalid)
	}
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "services" {
		return "", bad("not a full service resource name")
	}
	for _, p := range []string{parts[1], parts[3]} {
		if p == "" || p == "-" || strings.ContainsAny(p, " \t") {
			return "", bad(fmt.Sprintf("project or location %q is empty or malformed", p))
		}
	}
	short := parts[5]
	if err := stage.ValidateServiceName(short); err != nil {
		return "", fmt.Errorf("cloudrun: service %q: want \"projects/PROJECT/locations/REGION/services/SERVICE\": %w", name, err)
	}
	return short, nil
}

// retry runs fn until it succeeds or fails with a non-transient error.
func (s *Service) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	return backoff.Retry(ctx, s.clock, s.policy, s.attempts, gcperr.Retryable, func(ctx context.Context) error { return gcperr.FromREST(fn(ctx)) })
}

// remember records svc as the latest known state of the service.
func (s *Service) remember(svc *runpb.Service) {
	s.mu.Lock()
	s.last = svc
	s.mu.Unlock()
}

// forget drops the last known service, after a write whose outcome is not
// known as a whole (it failed), so that the next deploy reads it afresh.
func (s *Service) forget() {
	s.mu.Lock()
	s.last = nil
	s.mu.Unlock()
}

// snapshot returns a copy of the last known service, or nil.
func (s *Service) snapshot() *runpb.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return nil
	}
	return proto.Clone(s.last).(*runpb.Service)
}

// cached returns a copy of the last known service if its etag is etag.
func (s *Service) cached(etag string) *runpb.Service {
	if etag == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil || s.last.GetEtag() != etag {
		return nil
	}
	return proto.Clone(s.last).(*runpb.Service)
}

// getService reads the service, retrying transient failures.
func (s *Service) getService(ctx context.Context) (*runpb.Service, error) {
	var svc *runpb.Service
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		svc, err = s.services.GetService(ctx, &runpb.GetServiceRequest{Name: s.name}, gcperr.NoClientRetry())
		return err
	})
	if err != nil {
		return nil, gcperr.Wrap(err, "cloudrun: reading service %q", s.name)
	}
	s.remember(svc)
	return proto.Clone(svc).(*runpb.Service), nil
}

// getRevision reads the revision with short name short.
func (s *Service) getRevision(ctx context.Context, short string) (*runpb.Revision, error) {
	var rev *runpb.Revision
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		rev, err = s.revs.GetRevision(ctx, &runpb.GetRevisionRequest{Name: s.revisionResource(short)}, gcperr.NoClientRetry())
		return err
	})
	if err != nil {
		return nil, gcperr.Wrap(err, "cloudrun: reading revision %q", short)
	}
	return rev, nil
}

// DeleteRevision deletes the revision called name (full or suffix) and
// waits for the operation (see [stage.Deleter]). Cloud Run refuses a
// revision that serves traffic, holds a tag or is the latest with
// FAILED_PRECONDITION, which wraps [twostage.ErrConflict]; the request is
// retried on transient errors like every call, so a retry that finds the
// revision gone answers [twostage.ErrNotFound].
func (s *Service) DeleteRevision(ctx context.Context, name string) error {
	if name == "" {
		return invalidf("deleting a revision of service %q: the name is empty; give \"<service>-<suffix>\" or the suffix", s.short)
	}
	full, err := revisionName(s.short, name)
	if err != nil {
		return err
	}
	var op *run.DeleteRevisionOperation
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		op, err = s.revs.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: s.revisionResource(full)}, gcperr.NoClientRetry())
		return err
	})
	if err == nil {
		_, err = wait(ctx, s, op)
	}
	if err != nil {
		return gcperr.Wrap(err, "cloudrun: deleting revision %q", full)
	}
	s.log.InfoContext(ctx, "revision deleted", "service", s.short, "revision", full)
	return nil
}

// revisionResource returns the full resource name of revision short.
func (s *Service) revisionResource(short string) string {
	return s.name + "/revisions/" + short
}

// update sends one UpdateService and waits for its operation. The call is
// retried on a transient error (the request was not accepted, so no
// operation exists); the operation's own failure is returned as is (not
// wrapped) for the caller to map.
func (s *Service) update(ctx context.Context, svc *runpb.Service, allowMissing bool) (*runpb.Service, error) {
	var op *run.UpdateServiceOperation
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		op, err = s.services.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc, AllowMissing: allowMissing}, gcperr.NoClientRetry())
		return err
	})
	if err != nil {
		s.forget()
		return nil, &callError{err}
	}
	resp, err := wait(ctx, s, op)
	if err != nil {
		s.forget()
		return nil, err
	}
	s.remember(resp)
	return proto.Clone(resp).(*runpb.Service), nil
}

// callError marks an error of the UpdateService call itself (as opposed to
// the operation's result).
type callError struct{ err error }

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// operation is a long-running operation of the run v2 client whose
// response is T (*run.UpdateServiceOperation, *run.DeleteRevisionOperation).
type operation[T any] interface {
	Done() bool
	Name() string
	Poll(ctx context.Context, opts ...gax.CallOption) (T, error)
}

// wait polls op until it is done, sleeping on the injected clock between
// polls. An operation returned done is not polled at all. A poll that fails
// transiently is retried; ctx ending stops the wait with ctx's error.
func wait[T any](ctx context.Context, s *Service, op operation[T]) (T, error) {
	var zero T
	failures := 0
	for i := 0; ; i++ {
		if !op.Done() {
			if err := s.clock.Sleep(ctx, s.poll.Delay(i)); err != nil {
				return zero, fmt.Errorf("cloudrun: waiting for operation %s: %w", op.Name(), err)
			}
		}
		resp, err := op.Poll(ctx, gcperr.NoClientRetry())
		switch {
		case err != nil && op.Done():
			return zero, err // the operation failed
		case err != nil:
			if ctx.Err() != nil {
				return zero, fmt.Errorf("cloudrun: waiting for operation %s: %w", op.Name(), ctx.Err())
			}
			if failures++; !gcperr.Retryable(err) || failures >= s.attempts {
				return zero, gcperr.Wrap(err, "cloudrun: polling operation %s", op.Name())
			}
		case op.Done():
			return resp, nil
		}
	}
}
