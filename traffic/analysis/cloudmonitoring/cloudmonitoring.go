package cloudmonitoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/traffic/analysis"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Option configures [New].
type Option func(*config)

type config struct {
	clientOpts []option.ClientOption
	client     *monitoring.MetricClient
	delay      time.Duration
	period     time.Duration
	location   string
	clock      twostage.Clock
	logger     *slog.Logger
}

// WithClientOptions sets the options of the MetricClient that New creates
// (for example an emulator's). The default is none: Application Default
// Credentials and the production endpoint. Ignored with [WithMetricClient].
func WithClientOptions(opts ...option.ClientOption) Option {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// WithMetricClient uses a ready-made client, which [Metrics.Close] leaves
// open. The default: New creates one.
func WithMetricClient(mc *monitoring.MetricClient) Option {
	return func(c *config) { c.client = mc }
}

// WithDelay sets how long after the fact the metric is assumed complete.
// The default is 3 minutes, Cloud Run's documented visibility delay for
// request_count ("After sampling, data is not visible for up to 180
// seconds").
func WithDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithAlignment sets the alignment period of the query, at least 60 s. The
// default is 60 s, the metric's sampling period.
func WithAlignment(d time.Duration) Option { return func(c *config) { c.period = d } }

// WithLocation restricts the query to one region (the resource label
// location). The default is every region.
func WithLocation(region string) Option { return func(c *config) { c.location = region } }

// WithClock sets the clock that decides how far data is complete. The
// default is [twostage.SystemClock]. A nil c keeps the default.
func WithClock(clk twostage.Clock) Option {
	return func(c *config) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// WithLogger sets the logger of queries (debug level). The default discards
// everything. A nil l keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// Metrics reads request counts of one Cloud Run service. It is safe for
// concurrent use. Create one with [New] and Close it when done.
type Metrics struct {
	project, service string
	cfg              config
	client           *monitoring.MetricClient
	owns             bool
}

var (
	_ analysis.Metrics        = (*Metrics)(nil)
	_ analysis.LatencyMetrics = (*Metrics)(nil)
)

// Metric types read.
const (
	requestCount     = "run.googleapis.com/request_count"
	requestLatencies = "run.googleapis.com/request_latencies"
)

// New returns a source for the service named service in project (an ID or
// number). Errors wrap twostage.ErrInvalid for bad arguments.
func New(ctx context.Context, project, service string, opts ...Option) (*Metrics, error) {
	cfg := config{delay: 3 * time.Minute, period: time.Minute, clock: twostage.SystemClock(), logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	switch {
	case project == "" || strings.ContainsAny(project, "/\"\\ "):
		return nil, fmt.Errorf("cloudmonitoring: project %q: want a project ID or number: %w", project, twostage.ErrInvalid)
	case service == "" || !labelValue(service):
		return nil, fmt.Errorf("cloudmonitoring: service %q: want a Cloud Run service name: %w", service, twostage.ErrInvalid)
	case cfg.location != "" && !labelValue(cfg.location):
		return nil, fmt.Errorf("cloudmonitoring: location %q: want a region such as europe-west1: %w", cfg.location, twostage.ErrInvalid)
	case cfg.period < time.Minute:
		return nil, fmt.Errorf("cloudmonitoring: alignment %v is below the API's minimum of 60s: %w", cfg.period, twostage.ErrInvalid)
	case cfg.delay < 0:
		return nil, fmt.Errorf("cloudmonitoring: negative delay %v: %w", cfg.delay, twostage.ErrInvalid)
	}
	m := &Metrics{project: project, service: service, cfg: cfg, client: cfg.client}
	if m.client == nil {
		c, err := monitoring.NewMetricClient(ctx, cfg.clientOpts...)
		if err != nil {
			return nil, fmt.Errorf("cloudmonitoring: creating the metric client: %w", err)
		}
		m.client, m.owns = c, true
	}
	return m, nil
}

// Close closes the client if New created it.
func (m *Metrics) Close() error {
	if m.owns {
		return m.client.Close()
	}
	return nil
}

// labelValue reports whether s can be quoted in a filter without escapes:
// Cloud Run names are lower-case letters, digits and hyphens.
func labelValue(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || ('A' <= r && r <= 'Z')) {
			return false
		}
	}
	return s != ""
}

// Filter returns the monitoring filter selecting the request counts of the
// named revisions of the service.
func (m *Metrics) Filter(revisions []string) string { return m.filter(requestCount, revisions) }

func (m *Metrics) filter(metric string, revisions []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `metric.type = %q AND resource.type = "cloud_run_revision"`, metric)
	fmt.Fprintf(&b, ` AND resource.labels.service_name = %q`, m.service)
	if m.cfg.location != "" {
		fmt.Fprintf(&b, ` AND resource.labels.location = %q`, m.cfg.location)
	}
	b.WriteString(` AND resource.labels.revision_name = one_of(`)
	for i, r := range revisions {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", r)
	}
	b.WriteString(")")
	return b.String()
}

// Counts sums the requests and 5xx responses of q.Revisions over
// [q.Start, Through), Through being q.End or, if earlier, now minus the
// delay, rounded down to whole alignment periods after q.Start. With no
// complete period yet it returns zero counts without calling the API.
func (m *Metrics) Counts(ctx context.Context, q analysis.Query) (analysis.Counts, error) {
	if err := checkRevisions(q); err != nil {
		return analysis.Counts{}, fmt.Errorf("cloudmonitoring: counting requests of service %q: %w", m.service, err)
	}
	through, periods := m.window(q)
	out := analysis.Counts{Revisions: make(map[string]analysis.Count, len(q.Revisions)), Through: through}
	for _, r := range q.Revisions {
		out.Revisions[r] = analysis.Count{}
	}
	if periods <= 0 {
		return out, nil
	}
	err := m.list(ctx, requestCount, q, through, []string{"resource.labels.revision_name", "metric.labels.response_code_class"}, func(ts *monitoringpb.TimeSeries) error {
		rev := ts.GetResource().GetLabels()["revision_name"]
		c, ok := out.Revisions[rev]
		if !ok {
			return nil
		}
		var n int64
		for _, p := range ts.GetPoints() {
			switch v := p.GetValue().GetValue().(type) {
			case *monitoringpb.TypedValue_Int64Value:
				n += v.Int64Value
			case *monitoringpb.TypedValue_DoubleValue:
				n += int64(v.DoubleValue + 0.5)
			}
		}
		c.Requests += n
		if ts.GetMetric().GetLabels()["response_code_class"] == "5xx" {
			c.Errors += n
		}
		out.Revisions[rev] = c
		return nil
	})
	if err != nil {
		return analysis.Counts{}, gcperr.Wrap(err, "cloudmonitoring: listing request counts of service %q in project %q", m.service, m.project)
	}
	return out, nil
}

// window returns how far q's data is complete: q.End or, if earlier, now
// minus the delay, rounded down to whole alignment periods after q.Start,
// and the number of those periods.
func (m *Metrics) window(q analysis.Query) (time.Time, time.Duration) {
	through := q.End
	if complete := m.cfg.clock.Now().Add(-m.cfg.delay); complete.Before(through) {
		through = complete
	}
	periods := through.Sub(q.Start) / m.cfg.period
	return q.Start.Add(max(periods, 0) * m.cfg.period), periods
}

// Latencies sums the latency distributions of q.Revisions
// (run.googleapis.com/request_latencies, a DISTRIBUTION in milliseconds)
// over the same window as [Metrics.Counts], bucket by bucket, with the
// bucket options the API returns (linear, exponential or explicit). Points
// of one revision with other bucket options than its first are an error
// (Cloud Run keeps a metric's buckets fixed).
func (m *Metrics) Latencies(ctx context.Context, q analysis.Query) (analysis.Latencies, error) {
	if err := checkRevisions(q); err != nil {
		return analysis.Latencies{}, fmt.Errorf("cloudmonitoring: reading latencies of service %q: %w", m.service, err)
	}
	through, periods := m.window(q)
	out := analysis.Latencies{Revisions: make(map[string]analysis.Histogram, len(q.Revisions)), Through: through}
	for _, r := range q.Revisions {
		out.Revisions[r] = analysis.Histogram{}
	}
	if periods <= 0 {
		return out, nil
	}
	var bad error // a revision's points that cannot be summed
	err := m.list(ctx, requestLatencies, q, through, []string{"resource.labels.revision_name"}, func(ts *monitoringpb.TimeSeries) error {
		rev := ts.GetResource().GetLabels()["revision_name"]
		h, ok := out.Revisions[rev]
		if !ok {
			return nil
		}
		for _, p := range ts.GetPoints() {
			d := p.GetValue().GetDistributionValue()
			if d == nil || d.GetCount() == 0 {
				continue
			}
			bounds, err := Bounds(d.GetBucketOptions())
			if err != nil {
				bad = fmt.Errorf("cloudmonitoring: request latencies of revision %q: %w", rev, err)
				return bad
			}
			if h.Bounds == nil {
				h.Bounds, h.Counts = bounds, make([]int64, len(bounds)+1)
			} else if !slices.Equal(h.Bounds, bounds) {
				bad = fmt.Errorf("cloudmonitoring: request latencies of revision %q change bucket options within the window", rev)
				return bad
			}
			for i, c := range d.GetBucketCounts() {
				if i < len(h.Counts) {
					h.Counts[i] += c
				}
			}
		}
		out.Revisions[rev] = h
		return nil
	})
	if bad != nil {
		return analysis.Latencies{}, bad
	}
	if err != nil {
		return analysis.Latencies{}, gcperr.Wrap(err, "cloudmonitoring: listing request latencies of service %q in project %q", m.service, m.project)
	}
	return out, nil
}

// checkRevisions refuses a query with no revisions or a name that cannot be
// a Cloud Run revision (it is quoted into the filter).
func checkRevisions(q analysis.Query) error {
	if len(q.Revisions) == 0 {
		return analysis.ErrNoRevisions
	}
	for _, r := range q.Revisions {
		if !labelValue(r) {
			return fmt.Errorf("revision %q: want a Cloud Run revision name: %w", r, twostage.ErrInvalid)
		}
	}
	return nil
}

// list reads metric for q's revisions from q.Start to through, aligned
// per period with ALIGN_DELTA and summed by groupBy, and passes each time
// series to each.
func (m *Metrics) list(ctx context.Context, metric string, q analysis.Query, through time.Time, groupBy []string, each func(*monitoringpb.TimeSeries) error) error {
	req := &monitoringpb.ListTimeSeriesRequest{
		Name:   "projects/" + m.project,
		Filter: m.filter(metric, q.Revisions),
		Interval: &monitoringpb.TimeInterval{
			StartTime: timestamppb.New(q.Start),
			EndTime:   timestamppb.New(through),
		},
		Aggregation: &monitoringpb.Aggregation{
			AlignmentPeriod:    durationpb.New(m.cfg.period),
			PerSeriesAligner:   monitoringpb.Aggregation_ALIGN_DELTA,
			CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM,
			GroupByFields:      groupBy,
		},
		View: monitoringpb.ListTimeSeriesRequest_FULL,
	}
	m.cfg.logger.Debug("ListTimeSeries", "filter", req.Filter, "start", q.Start, "end", through)
	// No client retries: the gapic default retries UNAVAILABLE for up to
	// 90 s on the wall clock, while a gate's caller asks again at its next
	// look (a failed look is Inconclusive) on its own clock.
	it := m.client.ListTimeSeries(ctx, req, gcperr.NoClientRetry())
	for {
		ts, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := each(ts); err != nil {
			return err
		}
	}
}

// maxBuckets bounds the buckets accepted from the API.
const maxBuckets = 10000

// Bounds returns the finite bucket boundaries (in milliseconds in Cloud
// Monitoring, here durations) of bucket options o, in the form of
// [analysis.Histogram].Bounds: bucket 0 is the underflow, bucket
// len(bounds) the overflow.
func Bounds(o *distribution.Distribution_BucketOptions) ([]time.Duration, error) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	var b []time.Duration
	switch {
	case o.GetLinearBuckets() != nil:
		l := o.GetLinearBuckets()
		if l.GetNumFiniteBuckets() <= 0 || l.GetNumFiniteBuckets() > maxBuckets || !(l.GetWidth() > 0) {
			return nil, fmt.Errorf("linear buckets %v: want 1 to %d buckets of positive width", l, maxBuckets)
		}
		for i := range l.GetNumFiniteBuckets() + 1 {
			b = append(b, ms(l.GetOffset()+l.GetWidth()*float64(i)))
		}
	case o.GetExponentialBuckets() != nil:
		e := o.GetExponentialBuckets()
		if e.GetNumFiniteBuckets() <= 0 || e.GetNumFiniteBuckets() > maxBuckets || !(e.GetGrowthFactor() > 1) || !(e.GetScale() > 0) {
			return nil, fmt.Errorf("exponential buckets %v: want 1 to %d buckets, growth factor above 1 and a positive scale", e, maxBuckets)
		}
		for i := range e.GetNumFiniteBuckets() + 1 {
			b = append(b, ms(e.GetScale()*math.Pow(e.GetGrowthFactor(), float64(i))))
		}
	case o.GetExplicitBuckets() != nil:
		for _, v := range o.GetExplicitBuckets().GetBounds() {
			b = append(b, ms(v))
		}
		if len(b) == 0 || len(b) > maxBuckets+1 {
			return nil, fmt.Errorf("explicit buckets with %d bounds: want 1 to %d", len(b), maxBuckets+1)
		}
	default:
		return nil, fmt.Errorf("distribution without bucket options")
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			return nil, fmt.Errorf("bucket bounds %v and %v are not increasing (below a nanosecond apart?)", b[i-1], b[i])
		}
	}
	return b, nil
}
