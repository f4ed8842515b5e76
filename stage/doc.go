// Package stage defines a deployment target, the [Stage] interface, and the
// values that cross it: a [Release] in, a [Revision] out.
//
// It also derives Cloud Run revision names deterministically from a commit
// SHA and a release tag, so that re-running a deploy adopts the revision it
// created before instead of creating a duplicate.
//
// The Cloud Run implementation is in package stage/cloudrun; an in-memory
// one is fake.Service.
package stage
