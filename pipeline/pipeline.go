package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Service is a stage whose traffic can be read and moved: a Cloud Run
// service (stage/cloudrun.Service) or fake.Service.
type Service interface {
	stage.Stage
	traffic.Router
}

// TagVerifier checks that a git tag is signed by a trusted key. The git
// implementation ("git verify-tag", covering GPG, SSH and X.509 signatures)
// lives with the CLI; tests use a function.
type TagVerifier interface {
	// VerifyTag returns nil if tag carries a valid, trusted signature, and
	// an error saying why not otherwise.
	VerifyTag(ctx context.Context, tag string) error
}

// TagVerifierFunc adapts a function to [TagVerifier].
type TagVerifierFunc func(ctx context.Context, tag string) error

// VerifyTag calls f(ctx, tag).
func (f TagVerifierFunc) VerifyTag(ctx context.Context, tag string) error { return f(ctx, tag) }

// SemverTag matches release tags "vMAJOR.MINOR.PATCH" with optional
// pre-release and build metadata (semver 2.0.0, with a "v" prefix).
const SemverTag = `^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`

// Pipeline runs the two-stage release pipeline. It is safe for concurrent
// use; concurrent actions on one service are serialised by the services'
// optimistic concurrency (the loser gets twostage.ErrConflict).
type Pipeline struct {
	reg        registry.Registry
	repository string
	dev, prod  Service

	branch     string
	tagPattern *regexp.Regexp
	verifier   TagVerifier
	plan       traffic.Plan
	gates      []traffic.Gate
	verifiers  []Verifier
	approver   Approver
	devOver    stage.Overrides
	prodOver   stage.Overrides
	createProd bool
	awaitProg  func(registry.AwaitProgress)
	rolloutOpt []traffic.RolloutOption
	audit      Sink // set by WithAudit
	sink       multiSink
	log        *slog.Logger
	clock      twostage.Clock
	awaitFor   time.Duration
}

// Option configures a [Pipeline].
type Option func(*Pipeline)

// WithBranch sets the only branch whose commits deploy to dev (rule 1).
// The default is "main".
func WithBranch(b string) Option { return func(p *Pipeline) { p.branch = b } }

// WithTagPattern sets the regular expression release tags must match
// (rule 2). The default is [SemverTag].
func WithTagPattern(re *regexp.Regexp) Option { return func(p *Pipeline) { p.tagPattern = re } }

// WithSignedTags requires every release tag to pass v (rule 2). The default
// does not require signed tags.
func WithSignedTags(v TagVerifier) Option { return func(p *Pipeline) { p.verifier = v } }

// WithPlan sets the rollout plan Promote follows (rule 4 is checked by
// New). The default is traffic.DefaultPlan().
func WithPlan(pl traffic.Plan) Option { return func(p *Pipeline) { p.plan = pl } }

// WithGates sets the gates every rollout step must pass. The default is
// none: steps pass when their bake time is over.
func WithGates(g ...traffic.Gate) Option {
	return func(p *Pipeline) { p.gates = append([]traffic.Gate(nil), g...) }
}

// WithDevOverrides sets the dev stage's own settings (env vars, secret
// references, service account, resources, scaling, labels), applied on top
// of the dev service's current template at every dev deploy; what they do
// not name is carried over. The default changes nothing but the image.
func WithDevOverrides(o stage.Overrides) Option {
	return func(p *Pipeline) { p.devOver = o.Clone() }
}

// WithProdOverrides sets the prod stage's own settings, applied at every
// release (see [WithDevOverrides]).
func WithProdOverrides(o stage.Overrides) Option {
	return func(p *Pipeline) { p.prodOver = o.Clone() }
}

// WithCreateProd lets the first release create the prod service when it
// does not exist yet, serving that release at 100% with the "stable" tag:
// there is no stable revision to protect, and a no-traffic deploy cannot
// create a service. The rules (tag pattern, signature, the digest dev ran)
// apply as to every release; pre-traffic verifiers do not run, since the
// release serves at once. The default refuses, saying to create the
// service first.
func WithCreateProd() Option { return func(p *Pipeline) { p.createProd = true } }

// WithAwaitProgress sets a function called after every unsuccessful check
// while Release waits for the commit's image (see registry.WithProgress),
// so a person can follow the wait. The default is none.
func WithAwaitProgress(f func(registry.AwaitProgress)) Option {
	return func(p *Pipeline) { p.awaitProg = f }
}

// WithVerifiers sets the pre-traffic checks Release runs against the
// candidate's preview URL after deploying it with no traffic, such as an
// [HTTPCheck] or a gate through [GateVerifier]. New refuses an HTTPCheck
// when the prod service's name leaves no room for the "candidate" tag its
// preview URL needs. The default is none.
func WithVerifiers(v ...Verifier) Option {
	return func(p *Pipeline) { p.verifiers = append([]Verifier(nil), v...) }
}

// WithApprover asks a for approval at every rollout step, besides the
// gates. The default, [AutoApprove], never blocks.
func WithApprover(a Approver) Option { return func(p *Pipeline) { p.approver = a } }

// WithRolloutOptions passes options to the rollout engine Promote and
// Rollback run ([traffic.NewRollout]), such as [traffic.WithInterval] (how
// often the gates are asked during a step; default 1 second) and
// [traffic.WithWatch] (how long the gates are still asked at 100%; default
// none). They apply after the pipeline's own: the plan ([WithPlan]), the
// gates ([WithGates], with the approver of [WithApprover]), the clock and
// the logger. A [traffic.WithObserver] is replaced by the pipeline's audit
// observer; record events with [WithAudit] instead. New checks them once
// (an invalid interval or watch is refused there). The default is none.
func WithRolloutOptions(opts ...traffic.RolloutOption) Option {
	return func(p *Pipeline) { p.rolloutOpt = append(p.rolloutOpt, opts...) }
}

// WithAudit adds a sink for audit events (rule 6), besides the logger. The
// default records to the pipeline's logger only.
func WithAudit(s Sink) Option { return func(p *Pipeline) { p.audit = s } }

// WithLogger sets the structured logger. The default discards.
func WithLogger(l *slog.Logger) Option { return func(p *Pipeline) { p.log = l } }

// WithClock sets the clock for waiting on images, bake times and gates. The
// default is twostage.SystemClock().
func WithClock(c twostage.Clock) Option { return func(p *Pipeline) { p.clock = c } }

// WithAwaitTimeout bounds how long Release waits for the commit's image to
// appear in the registry (the release workflow may start before the dev
// workflow has pushed). The default is 30 minutes.
func WithAwaitTimeout(d time.Duration) Option { return func(p *Pipeline) { p.awaitFor = d } }

// New returns a pipeline that pushes images to repository ("HOST/PATH") in
// reg and deploys them to the dev and prod services. It checks the
// configuration once, with errors wrapping twostage.ErrInvalid that name
// the bad value.
func New(reg registry.Registry, repository string, dev, prod Service, opts ...Option) (*Pipeline, error) {
	p := &Pipeline{
		reg:        reg,
		repository: repository,
		dev:        dev,
		prod:       prod,
		branch:     "main",
		tagPattern: regexp.MustCompile(SemverTag),
		plan:       traffic.DefaultPlan(),
		log:        slog.New(slog.DiscardHandler),
		clock:      twostage.SystemClock(),
		awaitFor:   30 * time.Minute,
	}
	for _, o := range opts {
		o(p)
	}
	var errs []error
	if reg == nil {
		errs = append(errs, invalid("pipeline needs a registry"))
	}
	if dev == nil || prod == nil {
		errs = append(errs, invalid("pipeline needs both a dev and a prod service"))
	}
	if _, err := registry.ParseRepository(repository); err != nil {
		errs = append(errs, err)
	}
	if p.branch == "" {
		errs = append(errs, invalid("WithBranch: the dev branch is empty"))
	}
	if p.tagPattern == nil {
		errs = append(errs, invalid("WithTagPattern: nil pattern"))
	}
	if err := p.plan.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: rollout plan %s: %w", p.plan, err))
	}
	if err := p.devOver.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: WithDevOverrides: %w", err))
	}
	if err := p.prodOver.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: WithProdOverrides: %w", err))
	}
	if p.awaitFor <= 0 {
		errs = append(errs, invalid("WithAwaitTimeout: the await timeout must be positive"))
	}
	if p.clock == nil || p.log == nil {
		errs = append(errs, invalid("WithClock and WithLogger need non-nil values"))
	}
	if p.clock != nil && p.log != nil && len(errs) == 0 {
		// The rollout engine checks its options (interval, watch) once here,
		// not at the first Promote.
		if _, err := p.rollout(); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: WithRolloutOptions: %w", err))
		}
	}
	errs = append(errs, p.checkStages()...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.sink = multiSink{SlogSink{Logger: p.log}}
	if p.audit != nil {
		p.sink = append(p.sink, p.audit)
	}
	return p, nil
}

func (p *Pipeline) rollout(extra ...traffic.RolloutOption) (*traffic.Rollout, error) {
	gates := p.gates
	if p.approver != nil {
		gates = append(append([]traffic.Gate(nil), gates...), approvalGate{p.approver})
	}
	opts := append([]traffic.RolloutOption{
		traffic.WithPlan(p.plan),
		traffic.WithGates(gates...),
		traffic.WithClock(p.clock),
		traffic.WithLogger(p.log),
	}, p.rolloutOpt...)
	return traffic.NewRollout(p.prod, append(opts, extra...)...)
}

// record sends e to the sink, stamping the time.
func (p *Pipeline) record(ctx context.Context, e AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = p.clock.Now()
	}
	if err := p.sink.Record(ctx, e); err != nil {
		return fmt.Errorf("recording audit event %s: %w", e.Action, err)
	}
	return nil
}

func invalid(msg string) error { return fmt.Errorf("pipeline: %s: %w", msg, twostage.ErrInvalid) }

func joinErrs(errs []error) error { return errors.Join(errs...) }
