package auditlog

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostage/twostage/pipeline"
)

// TestAppendOnly checks that two sinks on one file (two CI jobs) append
// whole lines and never overwrite each other or earlier records.
func TestAppendOnly(t *testing.T) {
	t.Parallel()
	name := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(name, []byte(`{"action":"earlier"}`+"\n"), 0o644)
	var wg sync.WaitGroup
	for w := range 2 {
		s, err := Open(name, "https://example.com/run/"+string(rune('0'+w)))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range 50 {
				if err := s.Record(context.Background(), pipeline.AuditEvent{Time: time.Unix(int64(i), 0), Action: pipeline.ActionStep, Step: i}); err != nil {
					t.Error(err)
				}
			}
		})
		t.Cleanup(func() { s.Close() })
	}
	wg.Wait()
	b, _ := os.ReadFile(name)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 101 || lines[0] != `{"action":"earlier"}` {
		t.Fatalf("got %d lines starting %q, want 101 starting with the earlier record", len(lines), lines[0])
	}
	for _, l := range lines[1:] {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Action != "promote.step" || !strings.HasPrefix(r.Run, "https://") {
			t.Fatalf("line %q: %+v, %v", l, r, err)
		}
	}
}
