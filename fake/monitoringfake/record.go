package monitoringfake

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/protobuf/proto"
)

// LatencyMetricType is Cloud Run's request latency metric: "Distribution
// of request latency in milliseconds reaching the revision", a DELTA
// DISTRIBUTION in ms with the labels of [MetricType]
// (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run).
const LatencyMetricType = "run.googleapis.com/request_latencies"

// Response is one request a Cloud Run revision answered, as the data plane
// of fake/cloudrunfake reports it to [Server.Record].
type Response struct {
	Project  string // project ID, the resource label project_id
	Location string // region, the resource label location
	Service  string // the resource label service_name
	// Configuration is the resource label configuration_name; empty means
	// Service (a Cloud Run v2 service's configuration bears its name).
	Configuration string
	Revision      string // the resource label revision_name
	// Code is the HTTP status code of the response.
	Code int
	// Latency is how long the revision took to answer.
	Latency time.Duration
	// End is when the response ended; it decides the sampling period the
	// request counts in.
	End time.Time
}

// DefaultLatencyBuckets returns the bucket options request_latencies
// points carry unless [WithLatencyBuckets] says otherwise: exponential,
// 66 finite buckets, growth factor 1.4, scale 1 (ms). Unverified for Cloud
// Run: these are the options Google's load-balancer latency distributions
// were seen returning (prometheus-community/stackdriver_exporter issue
// #241); no public source gives Cloud Run's.
func DefaultLatencyBuckets() *distribution.Distribution_BucketOptions {
	return &distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_ExponentialBuckets{
		ExponentialBuckets: &distribution.Distribution_BucketOptions_Exponential{NumFiniteBuckets: 66, GrowthFactor: 1.4, Scale: 1},
	}}
}

// WithLatencyBuckets sets the bucket options of request_latencies points
// (exponential, linear or explicit). The default is
// [DefaultLatencyBuckets]. Options that describe no bucket are ignored.
func WithLatencyBuckets(b *distribution.Distribution_BucketOptions) Option {
	return func(c *config) {
		if b != nil && newBucketer(b) != nil {
			c.buckets = proto.Clone(b).(*distribution.Distribution_BucketOptions)
		}
	}
}

// cellKey identifies one sampling period of one revision's responses of one
// code.
type cellKey struct {
	project, location, service, configuration, revision string
	code                                                int
	end                                                 int64 // period end, Unix ns
}

// cell accumulates the responses of a cellKey.
type cell struct {
	count int64
	dist  dist
}

// Record adds responses to the metrics run.googleapis.com/request_count
// and run.googleapis.com/request_latencies: each counts in the sampling
// period (see [WithSamplePeriod]) that contains its End, periods ending on
// multiples of the period, and becomes visible after the ingestion delay
// like an added [Sample]. A response with no revision or end time, or a
// code outside 100..599, panics: it is a bug in the caller. Record is cheap
// enough to call for every request (aggregation happens here, not at query
// time).
func (s *Server) Record(rs ...Response) {
	for _, r := range rs {
		if r.Revision == "" || r.End.IsZero() || r.Code < 100 || r.Code > 599 {
			panic(fmt.Sprintf("monitoringfake: Record(%+v): want a revision, an end time and a code in 100..599", r))
		}
	}
	s.s.record(rs)
}

func (s *server) record(rs []Response) {
	p := s.cfg.period
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cells == nil {
		s.cells = map[cellKey]*cell{}
		s.bucketer = newBucketer(s.cfg.buckets)
	}
	for _, r := range rs {
		// A response at t counts in the period (end-P, end]: end is t
		// rounded up to a multiple of P.
		end := r.End.Truncate(p)
		if end.Before(r.End) {
			end = end.Add(p)
		}
		conf := r.Configuration
		if conf == "" {
			conf = r.Service
		}
		k := cellKey{r.Project, r.Location, r.Service, conf, r.Revision, r.Code, end.UnixNano()}
		c := s.cells[k]
		if c == nil {
			c = &cell{dist: dist{buckets: make([]int64, s.bucketer.n)}}
			s.cells[k] = c
		}
		c.count++
		c.dist.add(float64(r.Latency)/float64(time.Millisecond), s.bucketer.index)
	}
}

// recorded returns the recorded cells as entries of both metrics. The
// caller holds s.mu.
func (s *server) recorded() []entry {
	out := make([]entry, 0, 2*len(s.cells))
	for k, c := range s.cells {
		x := Sample{Project: k.project, Location: k.location, Service: k.service, Revision: k.revision, Code: k.code, End: time.Unix(0, k.end).UTC(), Count: c.count}
		d := c.dist.clone()
		out = append(out,
			entry{Sample: x, metric: MetricType, configuration: k.configuration},
			entry{Sample: x, metric: LatencyMetricType, configuration: k.configuration, dist: &d})
	}
	return out
}

// dist is a distribution under construction: Welford's running mean and
// sum of squared deviations (the algorithm distribution.proto cites), and
// the bucket counts.
type dist struct {
	count   int64
	mean    float64
	ssd     float64
	buckets []int64
}

func (d *dist) add(v float64, index func(float64) int) {
	d.count++
	delta := v - d.mean
	d.mean += delta / float64(d.count)
	d.ssd += delta * (v - d.mean)
	d.buckets[index(v)]++
}

// merge adds o to d (Chan et al.'s pairwise update of mean and ssd).
func (d *dist) merge(o *dist) {
	if o.count == 0 {
		return
	}
	if d.count == 0 {
		*d = o.clone()
		return
	}
	n := d.count + o.count
	delta := o.mean - d.mean
	d.ssd += o.ssd + delta*delta*float64(d.count)*float64(o.count)/float64(n)
	d.mean += delta * float64(o.count) / float64(n)
	d.count = n
	if len(d.buckets) < len(o.buckets) {
		d.buckets = append(d.buckets, make([]int64, len(o.buckets)-len(d.buckets))...)
	}
	for i, b := range o.buckets {
		d.buckets[i] += b
	}
}

func (d dist) clone() dist {
	d.buckets = append([]int64(nil), d.buckets...)
	return d
}

// proto renders d with the bucket options b, omitting trailing empty
// buckets ("If you supply fewer than N values, the remaining values are
// assumed to be 0", distribution.proto; the API was seen answering so,
// stackdriver_exporter issue #241).
func (d *dist) proto(b *distribution.Distribution_BucketOptions) *distribution.Distribution {
	n := len(d.buckets)
	for n > 0 && d.buckets[n-1] == 0 {
		n--
	}
	return &distribution.Distribution{
		Count:                 d.count,
		Mean:                  d.mean,
		SumOfSquaredDeviation: d.ssd,
		BucketOptions:         proto.Clone(b).(*distribution.Distribution_BucketOptions),
		BucketCounts:          append([]int64(nil), d.buckets[:n]...),
	}
}

// bucketer maps a value to its bucket under some bucket options, following
// the numbering of distribution.proto: bucket 0 is the underflow bucket,
// n-1 the overflow bucket.
type bucketer struct {
	n     int
	index func(float64) int
}

// newBucketer returns nil for options that describe no bucket.
func newBucketer(b *distribution.Distribution_BucketOptions) *bucketer {
	switch {
	case b.GetExponentialBuckets() != nil:
		e := b.GetExponentialBuckets()
		nf, g, sc := int(e.GetNumFiniteBuckets()), e.GetGrowthFactor(), e.GetScale()
		if nf < 1 || g <= 1 || sc <= 0 {
			return nil
		}
		lg := math.Log(g)
		return &bucketer{n: nf + 2, index: func(v float64) int {
			// Finite bucket i (1..nf) is [sc·g^(i-1), sc·g^i).
			if !(v >= sc) {
				return 0
			}
			return min(int(math.Floor(math.Log(v/sc)/lg))+1, nf+1)
		}}
	case b.GetLinearBuckets() != nil:
		l := b.GetLinearBuckets()
		nf, w, off := int(l.GetNumFiniteBuckets()), l.GetWidth(), l.GetOffset()
		if nf < 1 || w <= 0 {
			return nil
		}
		return &bucketer{n: nf + 2, index: func(v float64) int {
			// Finite bucket i (1..nf) is [off+w·(i-1), off+w·i).
			if !(v >= off) {
				return 0
			}
			return min(int(math.Floor((v-off)/w))+1, nf+1)
		}}
	case b.GetExplicitBuckets() != nil:
		bounds := b.GetExplicitBuckets().GetBounds()
		if len(bounds) == 0 {
			return nil
		}
		return &bucketer{n: len(bounds) + 1, index: func(v float64) int {
			// Bucket i (1..len-1) is [bounds[i-1], bounds[i]).
			i := 0
			for i < len(bounds) && v >= bounds[i] {
				i++
			}
			return i
		}}
	}
	return nil
}
