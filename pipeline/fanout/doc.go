// Package fanout deploys one release to many stages (services × regions)
// at once, within each region's write quota: [Deploy] bounds the deploys
// under way ([WithConcurrency]), limits the writes per region
// ([WithWriteRate]) and retries transient failures ([WithRetry]).
//
// It composes with package pipeline: a release that ran in dev and passed
// its policies can be fanned out to every regional prod service; the
// stages are any [stage.Stage], such as stage/cloudrun services or
// fake.Service in tests.
package fanout
