// Package cloudmonitoring is an [analysis.Metrics] source reading Cloud
// Run's request counts from Cloud Monitoring: the metric
// run.googleapis.com/request_count of the cloud_run_revision resource,
// summed per revision_name and response_code_class with ListTimeSeries
// (cloud.google.com/go/monitoring/apiv3/v2). A request is an error when its
// response_code_class is "5xx". It is also an [analysis.LatencyMetrics]:
// [Metrics.Latencies] sums run.googleapis.com/request_latencies, a
// DISTRIBUTION in milliseconds, per revision_name, on the bucket options
// the API returns ([Bounds]), so a Sequential gate over it runs its
// latency test.
//
// Cloud Monitoring samples the metric every 60 seconds and makes a sample
// visible up to 180 seconds later, so [Metrics.Counts] reports data as
// complete only up to now minus [WithDelay] (default 3 minutes), rounded
// down to whole alignment periods from the query's start; gates never pass
// a step on data that may still be incomplete.
//
// Tests point it at the emulator in fake/monitoringfake:
//
//	srv, _ := monitoringfake.NewServer()
//	m, err := cloudmonitoring.New(ctx, "my-project", "my-service",
//		cloudmonitoring.WithClientOptions(srv.ClientOptions()...))
package cloudmonitoring
