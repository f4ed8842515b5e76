// Package metricsfile is the scripted traffic of local play: an
// analysis.Metrics source that reads, from a JSON file, how many requests
// per second each revision receives and what fraction fail, and answers
// gates with the counts that traffic would produce. It stands in for Cloud
// Monitoring when there is no cloud, so the gates of traffic/analysis judge
// real numbers: a release is "bad" in local play because the file says its
// revision fails 20% of requests, and the threshold gate computes that.
//
// The file is read again on every query, so editing it during a rollout
// changes what the gates see next:
//
//	{"revisions": {
//	  "*":           {"rps": 20, "error-rate": 0.001},
//	  "api-v1-1-0-*": {"rps": 20, "error-rate": 0.2}
//	}}
//
// Keys are revision names or path.Match patterns, optionally prefixed with
// a region ("europe-west1/api-v1-1-0-*") to script one region differently;
// a key for the revision's region wins over one without, then the exact
// name over patterns, then the longest pattern. A revision no key matches
// receives no traffic.
package metricsfile
