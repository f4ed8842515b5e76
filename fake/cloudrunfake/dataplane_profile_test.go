package cloudrunfake_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/fake/cloudrunfake"
)

func TestParseProfiles(t *testing.T) {
	t.Parallel()
	got, err := cloudrunfake.ParseProfiles(" api-v2=errors:0.05,latency:120ms ; api-v1=errors:0 ;")
	want := map[string]cloudrunfake.Profile{"api-v2": {Errors: 0.05, Latency: 120 * time.Millisecond}, "api-v1": {}}
	if err != nil || !cmp.Equal(want, got) {
		t.Errorf("ParseProfiles = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"api", "=errors:1", "api=errors", "api=errors:2", "api=errors:-0.1", "api=errors:NaN", "api=latency:-1s", "api=latency:fast", "api=speed:1"} {
		if _, err := cloudrunfake.ParseProfiles(bad); err == nil {
			t.Errorf("ParseProfiles(%q) = nil error", bad)
		}
	}
}

// FuzzParseProfiles: whatever parses renders back (FormatProfiles) to the
// same profiles.
func FuzzParseProfiles(f *testing.F) {
	for _, s := range []string{"a=errors:0.05,latency:120ms", "a=errors:1; b=latency:1s", "", "a=errors:1e-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := cloudrunfake.ParseProfiles(s)
		if err != nil {
			return
		}
		again, err := cloudrunfake.ParseProfiles(cloudrunfake.FormatProfiles(p))
		if err != nil || !cmp.Equal(p, again) {
			t.Errorf("ParseProfiles(FormatProfiles(%v)) = %v, %v", p, again, err)
		}
	})
}
