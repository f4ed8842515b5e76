// Package auditlog is an append-only audit trail: a pipeline.Sink that
// writes one JSON object per event and line to a file opened with
// O_APPEND, so concurrent writers never overwrite each other's records and
// nothing already written is ever rewritten.
package auditlog
