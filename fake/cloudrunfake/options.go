package cloudrunfake

import (
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/emulator"
)

// Option configures a Server. Options are applied in order by NewServer.
type Option func(*config)

type config struct {
	emulator.Options
	numbers       map[string]string // project ID → number (WithProjectNumber)
	manualOps     bool
	conflictCode  codes.Code
	failImages    map[string]string // image → failure message
	quotaN        int
	quotaPer      time.Duration
	maxOps        int
	maxRevs       int             // WithMaxRevisions
	restoreFailed bool            // WithFailedSpecRestored
	dp            dataPlaneConfig // dataplane.go
}

func defaultConfig() config {
	return config{
		conflictCode: codes.Aborted,
		failImages:   map[string]string{},
		numbers:      map[string]string{},
		maxOps:       4096,
		maxRevs:      1000,
	}
}

// WithAddress sets the TCP address the gRPC server listens on. The default
// is "127.0.0.1:0" (loopback, a free port).
func WithAddress(addr string) Option {
	return func(c *config) { c.Addr = addr }
}

// WithoutListener makes NewServer start no server of its own: Addr is
// empty, ClientOptions returns nil, and the emulator serves only where
// Server.Register mounts it (package fake/emulators serves it beside the
// other emulators on one address). The default listens on WithAddress.
func WithoutListener() Option {
	return func(c *config) { c.NoListener = true }
}

// WithClock sets the clock of create_time, update_time, condition
// transition times and the write quota window, and the clock injected
// latency (WithLatency) waits on. The default is [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option {
	return func(c *config) { c.Clock = clock }
}

// WithLogger sets the logger that records every RPC at debug level. The
// default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.Logger = l }
}

// WithErrorInjection calls f before every RPC with the full gRPC method name
// (for example "/google.cloud.run.v2.Services/UpdateService", see the
// *_FullMethodName constants of runpb and longrunningpb) and the request
// message; a non-nil result is returned to the client instead of running
// the RPC. Use status.Error to choose the code. The default injects
// nothing.
func WithErrorInjection(f func(method string, req any) error) Option {
	return func(c *config) { c.Inject = f }
}

// WithLatency delays every call of the full gRPC method name by d before it
// runs, waiting on the clock of WithClock; a caller whose context ends
// first gets its context's error. The default adds no latency.
func WithLatency(method string, d time.Duration) Option {
	return func(c *config) { c.SetLatency(method, d) }
}

// WithMaxRequests keeps only the newest n entries of the request log (see
// Server.Requests); n ≤ 0 keeps every entry, the default. Long-running
// emulators set it so the log does not grow without bound.
func WithMaxRequests(n int) Option {
	return func(c *config) { c.MaxRequests = n }
}

// WithManualOperations keeps the long-running operations of writes pending
// (done=false, the service "reconciling") until Server.CompleteOperation or
// Server.CompleteOperations is called. The default completes every operation
// before the write returns, so the client's Wait returns without polling.
func WithManualOperations() Option {
	return func(c *config) { c.manualOps = true }
}

// WithConflictCode sets the status code of a write whose etag is stale. The
// default is codes.Aborted, what AIP-154 has asked since 2021 ("the
// service must return an ABORTED error"); codes.FailedPrecondition, the
// code of its earlier text, is the other one Google APIs answer. Which one
// Cloud Run answers is unverified: clients should accept both
// (stage/cloudrun maps both to twostage.ErrConflict).
func WithConflictCode(code codes.Code) Option {
	return func(c *config) { c.conflictCode = code }
}

// WithFailingImage makes every revision whose containers use image fail to
// become ready, with message as the reason. By default every revision
// becomes ready.
func WithFailingImage(image, message string) Option {
	return func(c *config) { c.failImages[image] = message }
}

// WithWriteQuota limits writes (CreateService, UpdateService, DeleteService,
// DeleteRevision, SetIamPolicy) to n per window of length per, per region,
// measured on the clock of WithClock. Writes beyond it fail with
// RESOURCE_EXHAUSTED; n == 0 means no limit, the default. (Cloud Run's
// documented quota is per minute per region.)
func WithWriteQuota(n int, per time.Duration) Option {
	return func(c *config) { c.quotaN, c.quotaPer = n, per }
}

// WithMaxOperations sets how many operations the server remembers; beyond
// it the oldest done operations are forgotten (GetOperation answers
// NOT_FOUND for them). Pending operations are always kept. The default is
// 4096.
func WithMaxOperations(n int) Option {
	return func(c *config) { c.maxOps = n }
}

// WithProjectNumber tells the emulator project ID's number, which real
// Cloud Run knows: services of the project then also list
// https://SERVICE-NUMBER.REGION.run.app among their urls, and revisions
// that name no service account run as the project's default one,
// NUMBER-compute@developer.gserviceaccount.com. The default knows no
// number: urls holds the uri only and service_account stays empty.
func WithProjectNumber(project, number string) Option {
	return func(c *config) { c.numbers[project] = number }
}

// WithMaxRevisions sets how many revisions a service keeps: creating one
// more deletes the oldest that serves no traffic, holds no tag and is not
// the latest, as Cloud Run does ("There is a maximum of 1000 revisions per
// service: If you exceed that limit, older revisions are automatically
// deleted", cloud.google.com/run/docs/managing/revisions). The default is
// 1000; tests lower it.
func WithMaxRevisions(n int) Option { return func(c *config) { c.maxRevs = n } }

// WithFailedSpecRestored makes a write whose reconciliation fails restore
// the service's previous spec (traffic, annotations, template), the
// emulator's behaviour before it followed the real API. The default keeps
// the failed write's spec, as Cloud Run does (Service.reconciling: only
// traffic_statuses, observed_generation and latest_ready_revision keep
// "the state of the last serving revision"; Lore-Hex/quill-router PR
// #781/#782, terraform-provider-google #22565): clients must put the
// spec back themselves (stage/cloudrun does).
func WithFailedSpecRestored() Option { return func(c *config) { c.restoreFailed = true } }
