package monitoringfake

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The metric and resource types the emulator serves.
const (
	MetricType   = "run.googleapis.com/request_count"
	ResourceType = "cloud_run_revision"
)

// Sample is the number of requests one revision answered with one response
// code during one sampling period, ending at End.
type Sample struct {
	Project  string // project ID, the resource label project_id
	Location string // region, the resource label location
	Service  string // the resource label service_name
	Revision string // the resource label revision_name
	// Code is the HTTP response code; the metric labels response_code and
	// response_code_class ("2xx", "5xx", ...) derive from it.
	Code int
	// End is the end of the sampling period; the sample counts in
	// intervals (start, end] containing End.
	End time.Time
	// Count is the number of requests.
	Count int64
}

// Option configures [NewServer].
type Option func(*config)

type config struct {
	emulator.Options
	delay  time.Duration
	period time.Duration
	// buckets are the bucket options of request_latencies (record.go).
	buckets *distribution.Distribution_BucketOptions
}

// WithAddress sets the TCP address to listen on. The default is
// "127.0.0.1:0" (loopback, a free port).
func WithAddress(addr string) Option { return func(c *config) { c.Addr = addr } }

// WithoutListener makes NewServer start no server of its own: Addr is
// empty, ClientOptions returns nil, and the emulator serves only where
// [Server.Register] mounts it. The default listens on WithAddress.
func WithoutListener() Option { return func(c *config) { c.NoListener = true } }

// WithClock sets the server's clock, which decides which samples are
// visible, and on which injected latency waits. The default is
// [twostage.SystemClock].
func WithClock(clock twostage.Clock) Option { return func(c *config) { c.Clock = clock } }

// WithLogger sets the logger of requests (debug level). The default
// discards everything.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.Logger = l } }

// WithErrorInjection makes every call first ask f, with the full method
// name ("/google.monitoring.v3.MetricService/ListTimeSeries") and the
// request message; a non-nil error (use status.Error for a code) is
// returned instead of an answer. The default injects nothing.
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
// [Server.Requests]); n ≤ 0 keeps every entry, the default.
func WithMaxRequests(n int) Option { return func(c *config) { c.MaxRequests = n } }

// WithIngestionDelay sets how long after its end a sample becomes visible.
// The default is 3 minutes: Cloud Run documents for request_count and
// request_latencies "After sampling, data is not visible for up to 180
// seconds" (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run).
func WithIngestionDelay(d time.Duration) Option { return func(c *config) { c.delay = max(d, 0) } }

// WithSamplePeriod sets the length of a sample's interval (its start is End
// minus the period). The default is 60 s, Cloud Run's sampling period.
func WithSamplePeriod(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.period = d
		}
	}
}

// Server is the emulator. It is safe for concurrent use.
type Server struct {
	// Addr is the "host:port" the server listens on; empty with
	// WithoutListener.
	Addr string

	lis *emulator.Server // nil with WithoutListener
	s   *server
}

type server struct {
	monitoringpb.UnimplementedMetricServiceServer

	cfg config
	kit *emulator.Kit // the request log and the fault injection

	mu      sync.Mutex // guards samples, cells and bucketer
	samples []Sample
	// cells are the responses of Server.Record, aggregated per sampling
	// period (record.go); bucketer maps their latencies to buckets.
	cells    map[cellKey]*cell
	bucketer *bucketer
}

// entry is one stored point of one metric: a [Sample] of request_count, or
// a recorded period of request_count or request_latencies (dist set).
type entry struct {
	Sample
	metric        string
	configuration string // empty: Service
	dist          *dist  // request_latencies only
}

// NewServer starts an emulator. Close it when done.
func NewServer(opts ...Option) (*Server, error) {
	cfg := config{period: time.Minute, delay: 3 * time.Minute, buckets: DefaultLatencyBuckets()}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg.Defaults()
	s := &server{cfg: cfg, kit: emulator.NewKit("monitoringfake", cfg.Options)}
	srv := &Server{s: s}
	if cfg.NoListener {
		return srv, nil
	}
	lis, err := emulator.Listen(cfg.Addr, srv.Register, grpc.UnknownServiceHandler(s.unknown))
	if err != nil {
		return nil, fmt.Errorf("monitoringfake: %w", err)
	}
	srv.Addr, srv.lis = lis.Addr, lis
	return srv, nil
}

// Register mounts the emulator's google.monitoring.v3.MetricService on r,
// such as a shared *grpc.Server, with its request log and fault injection.
// Call it before r serves.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	monitoringpb.RegisterMetricServiceServer(s.s.kit.Registrar(r, s.s.authz().Interceptors()...), s.s)
}

// unknown answers methods of services the emulator does not register.
func (s *server) unknown(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	err := status.Errorf(codes.Unimplemented, "monitoringfake: method %s is not emulated; only google.monitoring.v3.MetricService/ListTimeSeries is", method)
	s.kit.Log.Record(stream.Context(), method, nil, err)
	return err
}

// ClientOptions returns the options that point a monitoring client at the
// emulator: its endpoint, no authentication and a plain-text connection.
// It returns nil with WithoutListener.
func (s *Server) ClientOptions() []option.ClientOption { return s.lis.ClientOptions() }

// Close stops the server at once, ending open calls, and waits for it.
func (s *Server) Close() error { return s.lis.Close() }

// InjectError makes the next times calls of the full gRPC method name fail
// with err (use status.Error to choose the code) without running. times < 0
// fails every call; a nil err or times == 0 removes the injection.
func (s *Server) InjectError(method string, err error, times int) {
	s.s.kit.Faults.Inject(method, err, times)
}

// Requests returns a copy of the request log in arrival order (see
// WithMaxRequests).
func (s *Server) Requests() []emulation.Request { return s.s.kit.Log.Requests() }

// Count returns how many calls of the full gRPC method name the server has
// received since it started or since ResetRequests. A method given without
// a leading "/" matches any service's method of that name
// ("ListTimeSeries").
func (s *Server) Count(method string) int { return s.s.kit.Log.Count(method) }

// ResetRequests empties the request log and its counts.
func (s *Server) ResetRequests() { s.s.kit.Log.Reset() }

// Add records samples. A sample with a negative count, no revision or no
// end time panics: it is a bug in the test.
func (s *Server) Add(samples ...Sample) {
	for _, x := range samples {
		if x.Count < 0 || x.Revision == "" || x.End.IsZero() || x.Code < 100 || x.Code > 599 {
			panic(fmt.Sprintf("monitoringfake: Add(%+v): want a revision, an end time, a code in 100..599 and a count ≥ 0", x))
		}
	}
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.samples = append(s.s.samples, samples...)
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// series is one output time series under construction.
type series struct {
	key            string
	metricLabels   map[string]string
	resourceLabels map[string]string
	points         map[int64]*value // bucket index (0 = the newest period) → sum
	raw            []rawPoint       // without aggregation
}

type rawPoint struct {
	start, end time.Time
	v          value
}

// value is a point's value: an INT64 count, or a distribution when d is set.
type value struct {
	n int64
	d *dist
}

// add adds the value of e to v.
func (v *value) add(e entry) {
	if e.dist == nil {
		v.n += e.Count
		return
	}
	if v.d == nil {
		v.d = &dist{}
	}
	v.d.merge(e.dist)
}

func sampleLabels(x Sample) (metricLabels, resourceLabels map[string]string) {
	metricLabels = map[string]string{
		"response_code":       strconv.Itoa(x.Code),
		"response_code_class": strconv.Itoa(x.Code/100) + "xx",
	}
	resourceLabels = map[string]string{
		"project_id":         x.Project,
		"location":           x.Location,
		"service_name":       x.Service,
		"configuration_name": x.Service,
		"revision_name":      x.Revision,
	}
	return metricLabels, resourceLabels
}

// ListTimeSeries answers from the recorded samples. See the package
// documentation for what is emulated.
func (s *server) ListTimeSeries(ctx context.Context, req *monitoringpb.ListTimeSeriesRequest) (*monitoringpb.ListTimeSeriesResponse, error) {
	project, ok := strings.CutPrefix(req.GetName(), "projects/")
	if !ok || project == "" || strings.Contains(project, "/") {
		return nil, invalid("name %q: want projects/PROJECT_ID (organizations and folders are not emulated)", req.GetName())
	}
	clauses, err := parseFilter(req.GetFilter())
	if err != nil {
		return nil, invalid("%v", err)
	}
	if !slices.ContainsFunc(clauses, func(c clause) bool { return c.key == "metric.type" && !c.negate && len(c.values) == 1 }) {
		return nil, invalid("filter %q must specify a single metric type (metric.type = \"...\")", req.GetFilter())
	}
	iv := req.GetInterval()
	if iv.GetEndTime() == nil {
		return nil, invalid("interval.end_time is required")
	}
	end := iv.GetEndTime().AsTime()
	start := end
	if iv.GetStartTime() != nil {
		start = iv.GetStartTime().AsTime()
	}
	if start.After(end) {
		return nil, invalid("interval start %v is after its end %v", start, end)
	}
	agg := req.GetAggregation()
	aligned := agg.GetPerSeriesAligner() != monitoringpb.Aggregation_ALIGN_NONE
	var period time.Duration
	if aligned {
		switch agg.GetPerSeriesAligner() {
		case monitoringpb.Aggregation_ALIGN_DELTA, monitoringpb.Aggregation_ALIGN_SUM, monitoringpb.Aggregation_ALIGN_RATE:
		default:
			return nil, invalid("aligner %v is not emulated (use ALIGN_DELTA, ALIGN_SUM or ALIGN_RATE)", agg.GetPerSeriesAligner())
		}
		period = agg.GetAlignmentPeriod().AsDuration()
		if agg.GetAlignmentPeriod() == nil || period < time.Minute {
			return nil, invalid("alignment_period %v: the value must be at least 60 seconds", agg.GetAlignmentPeriod().AsDuration())
		}
	}
	reduce := agg.GetCrossSeriesReducer()
	switch reduce {
	case monitoringpb.Aggregation_REDUCE_NONE:
	case monitoringpb.Aggregation_REDUCE_SUM:
		if !aligned {
			return nil, invalid("cross_series_reducer needs a per_series_aligner other than ALIGN_NONE and an alignment_period")
		}
	default:
		return nil, invalid("reducer %v is not emulated (use REDUCE_SUM)", reduce)
	}
	var groupBy []string
	for _, f := range agg.GetGroupByFields() {
		p := &parser{s: f}
		k, err := p.key()
		if err != nil || !p.eof() || !strings.Contains(k, ".labels.") {
			return nil, invalid("group_by_fields %q: want resource.labels.NAME or metric.labels.NAME", f)
		}
		groupBy = append(groupBy, k)
	}
	if req.GetPageSize() < 0 {
		// page_size is "A positive number" (ListTimeSeriesRequest.page_size);
		// AIP-158 makes a negative one INVALID_ARGUMENT.
		return nil, invalid("page_size %d must not be negative", req.GetPageSize())
	}
	if req.GetOrderBy() != "" {
		return nil, invalid("order_by: unsupported, must be left blank")
	}
	offset := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return nil, invalid("page_token %q was not returned by a previous call", tok)
		}
		offset = n
	}

	now := s.cfg.Clock.Now()
	s.mu.Lock()
	entries := s.recorded()
	for _, x := range s.samples {
		entries = append(entries, entry{Sample: x, metric: MetricType})
	}
	s.mu.Unlock()

	out := map[string]*series{}
	metricType := ""
	for _, e := range entries {
		x := e.Sample
		if x.Project != project || now.Before(x.End.Add(s.cfg.delay)) || !x.End.After(start) || x.End.After(end) {
			continue
		}
		ml, rl := sampleLabels(x)
		if e.configuration != "" {
			rl["configuration_name"] = e.configuration
		}
		if !match(clauses, e.metric, ResourceType, ml, rl) {
			continue
		}
		metricType = e.metric
		if reduce == monitoringpb.Aggregation_REDUCE_SUM {
			gm, gr := map[string]string{}, map[string]string{}
			for _, k := range groupBy {
				if name, ok := strings.CutPrefix(k, "metric.labels."); ok {
					if v, ok := ml[name]; ok {
						gm[name] = v
					}
				} else if name, ok := strings.CutPrefix(k, "resource.labels."); ok {
					if v, ok := rl[name]; ok {
						gr[name] = v
					}
				}
			}
			ml, rl = gm, gr
		}
		key := labelKey(ml) + "|" + labelKey(rl)
		se := out[key]
		if se == nil {
			se = &series{key: key, metricLabels: ml, resourceLabels: rl, points: map[int64]*value{}}
			out[key] = se
		}
		if aligned {
			// Periods end at the interval's end: bucket b is
			// (end-(b+1)P, end-bP], so a sample ending at end is in 0.
			b := int64(end.Sub(x.End) / period)
			v := se.points[b]
			if v == nil {
				v = &value{}
				se.points[b] = v
			}
			v.add(e)
		} else {
			var v value
			v.add(e)
			se.raw = append(se.raw, rawPoint{start: x.End.Add(-s.cfg.period), end: x.End, v: v})
		}
	}
	// ALIGN_RATE: "rate = (y1 - y0)/(t1 - t0) … valid for CUMULATIVE and
	// DELTA metrics with numeric values … The output is a GAUGE metric
	// with value_type DOUBLE" (Aggregation.Aligner). Periods without data
	// are left out rather than interpolated (unverified).
	rate := agg.GetPerSeriesAligner() == monitoringpb.Aggregation_ALIGN_RATE
	if i := slices.IndexFunc(clauses, func(c clause) bool { return c.key == "metric.type" }); rate && clauses[i].values[0] == LatencyMetricType {
		return nil, invalid("aligner ALIGN_RATE is valid for numeric values; %s is a DISTRIBUTION (use ALIGN_DELTA or ALIGN_SUM)", LatencyMetricType)
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if offset > len(keys) {
		return nil, invalid("page_token %q is past the end of the results", req.GetPageToken())
	}
	pageSize := int(req.GetPageSize())
	if pageSize <= 0 || pageSize > 100000 {
		pageSize = 100000
	}
	resp := &monitoringpb.ListTimeSeriesResponse{}
	used := 0
	i := offset
	for ; i < len(keys); i++ {
		se := out[keys[i]]
		ts := &monitoringpb.TimeSeries{
			Metric:     &metric.Metric{Type: metricType, Labels: se.metricLabels},
			Resource:   &monitoredres.MonitoredResource{Type: ResourceType, Labels: se.resourceLabels},
			MetricKind: metric.MetricDescriptor_DELTA,
			ValueType:  metric.MetricDescriptor_INT64,
			Unit:       "1",
		}
		if metricType == LatencyMetricType {
			ts.ValueType, ts.Unit = metric.MetricDescriptor_DISTRIBUTION, "ms"
		}
		if rate {
			ts.MetricKind, ts.ValueType, ts.Unit = metric.MetricDescriptor_GAUGE, metric.MetricDescriptor_DOUBLE, "1/s"
		}
		if req.GetView() == monitoringpb.ListTimeSeriesRequest_FULL {
			ts.Points = points(se, end, period, aligned, s.cfg.buckets)
			if rate {
				for _, p := range ts.Points {
					p.Value = &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_DoubleValue{DoubleValue: float64(p.GetValue().GetInt64Value()) / period.Seconds()}}
				}
			}
			if used > 0 && used+len(ts.Points) > pageSize {
				break
			}
			used += len(ts.Points)
		} else if used >= pageSize {
			break
		} else {
			used++
		}
		resp.TimeSeries = append(resp.TimeSeries, ts)
	}
	if i < len(keys) {
		resp.NextPageToken = strconv.Itoa(i)
	}
	return resp, nil
}

// points renders a series' points, newest first ("The points in each time
// series are currently returned in reverse time order").
func points(se *series, end time.Time, period time.Duration, aligned bool, buckets *distribution.Distribution_BucketOptions) []*monitoringpb.Point {
	var ps []*monitoringpb.Point
	if aligned {
		idx := make([]int64, 0, len(se.points))
		for b := range se.points {
			idx = append(idx, b)
		}
		slices.Sort(idx)
		for _, b := range idx {
			e := end.Add(-time.Duration(b) * period)
			ps = append(ps, &monitoringpb.Point{
				Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(e.Add(-period)), EndTime: timestamppb.New(e)},
				Value:    se.points[b].typed(buckets),
			})
		}
		return ps
	}
	raw := slices.Clone(se.raw)
	sort.SliceStable(raw, func(i, j int) bool { return raw[i].end.After(raw[j].end) })
	for _, r := range raw {
		ps = append(ps, &monitoringpb.Point{
			Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(r.start), EndTime: timestamppb.New(r.end)},
			Value:    r.v.typed(buckets),
		})
	}
	return ps
}

// typed renders v as a point's value.
func (v *value) typed(buckets *distribution.Distribution_BucketOptions) *monitoringpb.TypedValue {
	if v.d != nil {
		return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_DistributionValue{DistributionValue: v.d.proto(buckets)}}
	}
	return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: v.n}}
}

func labelKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q,", k, m[k])
	}
	return b.String()
}
