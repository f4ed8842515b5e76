// Package monitoringfake is an in-process emulator of the part of the Cloud
// Monitoring API v3 that traffic/analysis/cloudmonitoring uses:
// google.monitoring.v3.MetricService/ListTimeSeries, served over real gRPC
// on loopback, for the Cloud Run metric run.googleapis.com/request_count.
//
// A test scripts the data with [Server.Add]: each [Sample] is the number of
// requests one revision answered with one response code during one
// sampling period. Samples become visible only after an ingestion delay
// ([WithIngestionDelay]) on the server's clock ([WithClock]), as real
// metrics do.
//
// The data plane of fake/cloudrunfake reports every request it routes with
// [Server.Record]: each [Response] counts in request_count and in
// run.googleapis.com/request_latencies ([LatencyMetricType]), a DELTA
// DISTRIBUTION in milliseconds whose points carry the bucket options of
// [WithLatencyBuckets] ([DefaultLatencyBuckets] by default).
//
// ListTimeSeries supports:
//   - filters that are a conjunction (AND or juxtaposition) of
//     comparisons KEY = "v", KEY != "v" and KEY = one_of("v1", "v2", ...),
//     where KEY is metric.type, resource.type, resource.label(s).NAME or
//     metric.label(s).NAME (a NAME may be double-quoted);
//   - the interval: samples whose end time lies in (start, end];
//   - aggregation with the aligners ALIGN_DELTA, ALIGN_SUM and ALIGN_RATE
//     (request counts per second, a GAUGE of DOUBLE; periods without data
//     are left out, not interpolated: unverified) over an alignment period
//     of at least 60 s (periods end at the interval's end), and the
//     reducers REDUCE_NONE and REDUCE_SUM with group_by_fields;
//   - views FULL and HEADERS, and paging by page_size/page_token.
//
// [WithErrorInjection] makes calls fail with a chosen status, for testing
// error handling. Anything else answers an error rather than a silent
// success: other
// aligners, reducers and filter syntax are INVALID_ARGUMENT naming what is
// not emulated, and every other RPC of MetricService is UNIMPLEMENTED.
//
// # Fidelity
//
// REST/JSON: the emulator's address (and the shared one of fake/emulators)
// also answers the API's REST paths, transcoded from the google.api.http
// annotations into the same gRPC methods (connectrpc.com/vanguard), so
// the official REST clients (NewXxxRESTClient with endpoint
// "http://HOST:PORT") work and see the same behaviour, request log and
// injected faults, with errors in Google's JSON error shape. Unverified:
// the transcoder's own errors (malformed JSON, unknown query parameters,
// a wrong HTTP method: 405 here), unknown JSON fields (dropped here),
// partial responses ("fields") and error details, which are not emulated.
//
// The request and response shapes follow the monitoringpb field comments
// (cloud.google.com/go/monitoring/apiv3/v2/monitoringpb): alignment periods
// of at least 60 s, single data points per period ending at the period's
// end, points in reverse time order, group_by_fields keeping only the
// grouped labels. The metric's labels (response_code, response_code_class)
// and resource labels (project_id, service_name, revision_name, location,
// configuration_name) follow Cloud Run's metric list
// (https://cloud.google.com/monitoring/api/metrics_gcp, "run"); its note
// "Sampled every 60 seconds. After sampling, data is not visible for up to
// 180 seconds" is what [WithIngestionDelay] models (see also
// https://cloud.google.com/monitoring/api/v3/latency-n-retention).
// request_latencies follows the same page ("Distribution of request
// latency in milliseconds reaching the revision"); distributions follow
// google.api.Distribution (Welford's mean and sum of squared deviations,
// bucket numbering, trailing empty buckets omitted) and ALIGN_DELTA,
// ALIGN_SUM and REDUCE_SUM keep the DISTRIBUTION value type, as the
// monitoringpb aligner comments say.
// Requests over 4 MiB answer RESOURCE_EXHAUSTED (grpc-go's default limit;
// Google's is unverified); a negative page_size is INVALID_ARGUMENT
// (AIP-158; the field comment asks for "A positive number").
// Unverified: Cloud Run's bucket options for request_latencies
// ([DefaultLatencyBuckets] are those seen on Google's load-balancer
// latencies); that a response counts in the period containing its end
// time; the exact inclusion rule of DELTA points at interval edges
// and where alignment periods start when the interval is not a multiple of
// the period (the emulator aligns to the interval's end), and the filter
// grammar beyond the subset above.
//
// IAM (WithIAM, on by default in fake/emulators): ListTimeSeries needs
// monitoring.timeSeries.list on the project (roles/monitoring.viewer).
package monitoringfake
