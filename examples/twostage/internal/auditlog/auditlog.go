package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/traffic"
)

// Record is one line of the log.
type Record struct {
	Time     time.Time         `json:"time"`
	Action   string            `json:"action"`
	Actor    string            `json:"actor,omitempty"`
	Ref      string            `json:"ref,omitempty"`
	SHA      string            `json:"sha,omitempty"`
	Digest   string            `json:"digest,omitempty"`
	Stage    string            `json:"stage,omitempty"`
	Revision string            `json:"revision,omitempty"`
	Before   string            `json:"before,omitempty"`
	After    string            `json:"after,omitempty"`
	Decision string            `json:"decision,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Step     int               `json:"step,omitempty"`
	Percent  int               `json:"percent,omitempty"`
	Verdicts []traffic.Verdict `json:"verdicts,omitempty"`
	// Run links to the CI run that acted, when known.
	Run string `json:"run,omitempty"`
}

// FromEvent converts a pipeline event.
func FromEvent(e pipeline.AuditEvent) Record {
	return Record{
		Time: e.Time.UTC(), Action: string(e.Action), Actor: e.Actor, Ref: e.Ref, SHA: e.SHA,
		Digest: e.Digest, Stage: e.Stage, Revision: e.Revision, Before: e.Before, After: e.After,
		Decision: e.Decision, Reason: e.Reason, Step: e.Step, Percent: e.Percent, Verdicts: e.Verdicts,
	}
}

// Sink appends records to a file. It is safe for concurrent use.
type Sink struct {
	mu  sync.Mutex // guards f
	f   *os.File
	run string
}

var _ pipeline.Sink = (*Sink)(nil)

// Open opens (creating it, mode 0644) the log file name for appending.
// run, if set, is recorded on every line.
func Open(name, run string) (*Sink, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	return &Sink{f: f, run: run}, nil
}

// Record writes e as one line, in one write call.
func (s *Sink) Record(_ context.Context, e pipeline.AuditEvent) error {
	r := FromEvent(e)
	r.Run = s.run
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding audit record: %w", err)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("audit log is closed")
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("appending to audit log %s: %w", s.f.Name(), err)
	}
	return nil
}

// Close syncs and closes the file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}
