package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
	"github.com/twostage/twostage/traffic/analysis/cloudmonitoring"
)

// listTimeSeries is the one Cloud Monitoring call the gates make.
const listTimeSeries = "/google.monitoring.v3.MetricService/ListTimeSeries"

// gatedFlow is the promotion flow with the default sequential gate reading
// Cloud Monitoring: the Monitoring emulator sits behind the same injector
// as Cloud Run, and users' requests reach it as the data plane records
// them (requestsPerSecond a simulated second, split by the serving traffic,
// all answered 200). The gates look once a minute.
type gatedFlow struct {
	runFlow
	mon *monitoringfake.Server
}

const requestsPerSecond = 40

func newGatedFlow(t testing.TB) flowEnv {
	t.Helper()
	f := &gatedFlow{}
	in := &injector{}
	e := newRunEnvOn(t, in, nil, func(e *runEnv) []pipeline.Option {
		mon, err := monitoringfake.NewServer(monitoringfake.WithoutListener(), monitoringfake.WithClock(e.clk))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = mon.Close() })
		f.mon = mon
		m, err := cloudmonitoring.New(context.Background(), project, "api", cloudmonitoring.WithClientOptions(serveGRPC(t, in, mon.Register)...), cloudmonitoring.WithClock(e.clk))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		gate, err := analysis.NewSequential(m, analysis.WithClock(e.clk))
		if err != nil {
			t.Fatal(err)
		}
		return []pipeline.Option{pipeline.WithGates(gate), pipeline.WithRolloutOptions(traffic.WithInterval(time.Minute))}
	})
	var last time.Time
	e.clk.OnSleep(func(now time.Time) { f.users(e, &last, now) })
	f.runFlow = runFlow{runEnv: e, setupFn: promoteSetup, runFn: promoteFlow}
	return f
}

// users records the responses of the simulated seconds in (last, now].
func (f *gatedFlow) users(e *runEnv, last *time.Time, now time.Time) {
	if last.IsZero() {
		*last = now
		return
	}
	prod, ok := e.srv.Service(prodName)
	if !ok {
		*last = now
		return
	}
	shares := map[string]int{}
	for _, ts := range prod.GetTrafficStatuses() {
		if ts.GetPercent() > 0 && ts.GetRevision() != "" {
			shares[ts.GetRevision()] += int(ts.GetPercent())
		}
	}
	var rs []monitoringfake.Response
	for t := last.Truncate(time.Second).Add(time.Second); !t.After(now); t = t.Add(time.Second) {
		for rev, pct := range shares {
			for range requestsPerSecond * pct / 100 {
				rs = append(rs, monitoringfake.Response{Project: project, Location: region, Service: "api", Revision: rev, Code: 200, Latency: 80 * time.Millisecond, End: t})
			}
		}
	}
	f.mon.Record(rs...)
	*last = now
}

// calls samples the Monitoring reads: the first, one in the middle and the
// last (a promotion makes a few dozen, each like the others); every other
// call is kept.
func (f *gatedFlow) calls() []string {
	all := f.runFlow.calls()
	var reads []int
	for i, c := range all {
		if c == listTimeSeries {
			reads = append(reads, i)
		}
	}
	keep := map[int]bool{}
	if n := len(reads); n > 0 {
		keep[reads[0]], keep[reads[n/2]], keep[reads[n-1]] = true, true, true
	}
	var out []string
	for i, c := range all {
		if c != listTimeSeries || keep[i] {
			out = append(out, c)
		}
	}
	return out
}

func (f *gatedFlow) state() any { return f.snapshot() }

// TestGatedFlowReadsMonitoring checks the flow's premise: the fault-free
// promotion passes its gates on Cloud Monitoring's numbers.
func TestGatedFlowReadsMonitoring(t *testing.T) {
	t.Parallel()
	f := newGatedFlow(t).(*gatedFlow)
	ctx := t.Context()
	if err := f.setup(ctx); err != nil {
		t.Fatal(err)
	}
	f.begin()
	if err := f.run(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range f.runFlow.calls() {
		if strings.HasSuffix(c, "/ListTimeSeries") {
			n++
		}
	}
	if n < 3 {
		t.Errorf("the promotion read Cloud Monitoring %d times, want at least one per look", n)
	}
	if st := f.snapshot(); st.Rollout.Phase != traffic.Succeeded {
		t.Errorf("rollout %+v, want Succeeded", st.Rollout)
	}
}
