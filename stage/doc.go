// Package stage defines a deployment target, the [Stage] interface, and the
// values that cross it: a [Release] in, a [Revision] out.
//
// It also derives Cloud Run revision names deterministically from a commit
// SHA and a release tag, so that re-running a deploy adopts the revision it
// created before instead of creating a duplicate.
//
// It is the one home of Cloud Run's naming and label rules: service and
// revision names ([ValidateServiceName], [RevisionName]), labels
// ([ValidateLabel], [ReservedLabelNamespaces], [RevisionLabels] for the
// labels a new revision carries over from its template) and the settings
// of [Overrides]. stage/cloudrun and package fake both use them; the Cloud
// Run emulator (fake/cloudrunfake) keeps its own copy on purpose, as the
// oracle the conformance suites check both against.
//
// # Optional interfaces
//
// A Stage may do more, detected with a type assertion; package pipeline
// says which it needs (pipeline.New checks them):
//
//   - [Lister]: list its revisions, newest first;
//   - [Getter]: read one revision by name;
//   - [Drifter]: compare declared overrides with the live template;
//   - [Deleter]: delete a revision that serves nothing (pruning);
//   - [Namer]: tell its service name, which revision-name derivation needs.
//
// The Cloud Run implementation is in package stage/cloudrun; an in-memory
// one is fake.Service.
package stage
