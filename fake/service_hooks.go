package fake

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// Fault hooks and call recording of a [Service].

// ServiceBackend is everything a [Service] implements: the type of the next
// given to [ServiceFuncs].
type ServiceBackend interface {
	stage.Stage
	traffic.Router
	stage.Lister
	stage.Namer
}

// ServiceFuncs are optional fault hooks for a [Service]. A nil function
// passes the call through; a non-nil one is called instead, with n, the
// 1-based number of calls of that method so far (this one included), and
// next, the service without hooks, whose calls are not recorded in
// [Service.Calls]. Hooks run with no lock held, so they may call next (for
// example to let another writer win a race before the call proceeds).
type ServiceFuncs struct {
	// Deploy intercepts [Service.Deploy].
	Deploy func(ctx context.Context, n int, next ServiceBackend, r stage.Release) (stage.Revision, error)
	// Split intercepts [Service.Split].
	Split func(ctx context.Context, n int, next ServiceBackend) (traffic.Split, error)
	// SetSplit intercepts [Service.SetSplit].
	SetSplit func(ctx context.Context, n int, next ServiceBackend, s traffic.Split) (traffic.Split, error)
	// Revisions intercepts [Service.Revisions].
	Revisions func(ctx context.Context, n int, next ServiceBackend) iter.Seq2[stage.Revision, error]
}

// Calls returns a copy of the calls of Deploy, Split, SetSplit, Revisions,
// Revision, Drift and DeleteRevision so far, in the order they returned.
func (s *Service) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Service) count(m int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[m]++
	return s.n[m]
}

func (s *Service) record(method, arg string, err error) {
	at := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: method, Arg: arg, Err: err, At: at})
}

// splitString summarizes the targets of sp for Call.Arg, for example
// "LATEST=90%, api-v1=10%, api-v2=0%#candidate".
func splitString(sp traffic.Split) string {
	if len(sp.Targets) == 0 {
		return "(empty: LATEST=100%)"
	}
	var b strings.Builder
	for i, t := range sp.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		if t.Latest {
			b.WriteString("LATEST")
		} else {
			b.WriteString(t.Revision)
		}
		fmt.Fprintf(&b, "=%d%%", t.Percent)
		if t.Tag != "" {
			b.WriteString("#" + t.Tag)
		}
	}
	return b.String()
}
