package traffic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	// 40 characters, so a 6-character tag reaches the 46-character limit.
	svc40 := "svc-" + strings.Repeat("x", 36)
	tests := []struct {
		name    string
		in      traffic.Split
		service string
		wantErr []string // nil: valid
	}{
		{name: "empty split is 100% latest", in: traffic.Split{}},
		{name: "empty non-nil targets", in: traffic.Split{Targets: []traffic.Target{}}},
		{name: "latest 100%", in: traffic.Split{Targets: []traffic.Target{latest(100, "")}}},
		{name: "canary", in: split(rev("api-1", 95, "stable"), rev("api-2", 5, "candidate")), service: "api"},
		{name: "tag-only entries", in: split(rev("api-1", 100, ""), rev("api-1", 0, "stable"), rev("api-2", 0, "candidate"), latest(0, "head"))},
		{name: "one revision in several entries", in: split(rev("api-1", 50, ""), rev("api-1", 50, "x"))},
		{name: "63-character revision", in: split(rev("a"+strings.Repeat("b", 62), 100, ""))},
		{name: "tag plus service exactly 46", in: split(rev("api-1", 100, "abcdef")), service: svc40},
		{name: "long tag without service is not length-checked", in: split(rev("api-1", 100, strings.Repeat("t", 60)))},
		{name: "single-letter names", in: split(rev("a", 100, "b"))},

		{name: "latest and revision both set", in: split(traffic.Target{Latest: true, Revision: "api-1", Percent: 100}), wantErr: []string{"target 1", "Latest is set together with revision \"api-1\"", "set one or the other"}},
		{name: "neither latest nor revision", in: split(rev("api-1", 90, ""), traffic.Target{Percent: 10}), wantErr: []string{"target 2", "names no revision"}},
		{name: "revision with a dot", in: split(rev("api-v1.4.2", 100, "")), wantErr: []string{`"api-v1.4.2"`, "not a valid revision name"}},
		{name: "revision upper case", in: split(rev("Api-1", 100, "")), wantErr: []string{`"Api-1"`}},
		{name: "revision starting with digit", in: split(rev("1api", 100, "")), wantErr: []string{`"1api"`}},
		{name: "revision ending with dash", in: split(rev("api-", 100, "")), wantErr: []string{`"api-"`}},
		{name: "revision 64 characters", in: split(rev("a"+strings.Repeat("b", 63), 100, "")), wantErr: []string{"not a valid revision name", "at most 63"}},
		{name: "negative percent", in: split(rev("api-1", 110, ""), rev("api-2", -10, "")), wantErr: []string{"target 1", "percent 110", "0..100"}},
		{name: "negative percent second", in: split(rev("api-1", 100, ""), rev("api-2", -10, ""), rev("api-3", 10, "")), wantErr: []string{"target 2", `revision "api-2"`, "percent -10"}},
		{name: "latest percent over 100", in: split(latest(101, "")), wantErr: []string{"LATEST", "percent 101"}},
		{name: "sum below 100", in: split(rev("api-1", 90, ""), rev("api-2", 5, "")), wantErr: []string{"sum to 95", "want 100"}},
		{name: "sum above 100", in: split(rev("api-1", 100, ""), rev("api-2", 5, "")), wantErr: []string{"sum to 105"}},
		{name: "only tag-only entries", in: split(rev("api-1", 0, "stable")), wantErr: []string{"sum to 0"}},
		{name: "duplicate tags", in: split(rev("api-1", 95, "stable"), rev("api-2", 5, "stable")), wantErr: []string{"targets 1 and 2", `tag "stable"`}},
		{name: "duplicate tags on one revision", in: split(rev("api-1", 100, "x"), rev("api-1", 0, "x")), wantErr: []string{"targets 1 and 2", `tag "x"`}},
		{name: "duplicate tag on latest", in: split(rev("api-1", 100, "x"), latest(0, "x")), wantErr: []string{"targets 1 and 2"}},
		{name: "tag not a DNS label", in: split(rev("api-1", 100, "Stable")), wantErr: []string{`tag "Stable"`, "not a DNS label"}},
		{name: "tag with underscore", in: split(rev("api-1", 100, "my_tag")), wantErr: []string{`tag "my_tag"`}},
		{name: "tag ending with dash", in: split(rev("api-1", 100, "stable-")), wantErr: []string{`"stable-"`}},
		{name: "tag starting with digit", in: split(rev("api-1", 100, "1st")), wantErr: []string{`"1st"`}},
		{name: "tag plus service 47", in: split(rev("api-1", 100, "abcdefg")), service: svc40, wantErr: []string{`tag "abcdefg"`, `"` + svc40 + `"`, "47 characters", "46", "at most 6"}},
		{name: "tag plus service over 46 with short tag", in: split(rev("api-1", 100, "candidate")), service: strings.Repeat("s", 40), wantErr: []string{"49 characters", "at most 6"}},
		{name: "service alone over the limit", in: split(rev("api-1", 100, "c")), service: strings.Repeat("s", 49), wantErr: []string{"50 characters", "no tag fits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := traffic.Validate(tt.in, tt.service)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("Validate(%v, %q) = %v, want nil", tt.in.Targets, tt.service, err)
				}
				return
			}
			checkErr(t, err, tt.wantErr...)
			if !strings.HasPrefix(err.Error(), "traffic: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

// fuzzNames are the revision names and tags fuzzed splits pick from: valid
// ones, edge cases of the DNS-label rule, and the fuzzer's own string.
var fuzzNames = []string{"api-1", "api-2", "api-3", "a", "", "API-1", "api-", "1api", "api.v1", "api_1", "-api",
	"a" + strings.Repeat("b", 62), "a" + strings.Repeat("b", 63), "stable", "candidate", "é"}

// decodeSplit builds a split from fuzz input, four bytes per target: flags
// (bit 0 Latest, bit 1 has revision, bit 2 has tag), percent as a signed
// byte, revision and tag selectors (an index into fuzzNames, or the
// fuzzer's own string when past the end).
func decodeSplit(data []byte, name, tag string) traffic.Split {
	pick := func(b byte, own string) string {
		if int(b) < len(fuzzNames) {
			return fuzzNames[b]
		}
		return own
	}
	var s traffic.Split
	for len(data) >= 4 && len(s.Targets) < 16 {
		f, p, r, tg := data[0], int8(data[1]), data[2], data[3]
		data = data[4:]
		t := traffic.Target{Latest: f&1 != 0, Percent: int(p)}
		if f&2 != 0 {
			t.Revision = pick(r, name)
		}
		if f&4 != 0 {
			t.Tag = pick(tg, tag)
		}
		s.Targets = append(s.Targets, t)
	}
	if len(data) > 0 {
		s.LatestRevision = pick(data[0], name)
	}
	return s
}

// FuzzValidate builds random splits: Validate must never panic, nor must
// any algebra function; and when Validate accepts a split, Normalize,
// routing to its own shares, Pin and RouteAll keep it valid and (where they
// should) route identically.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{2, 100, 0, 0}, "", "", "api")                                  // api-1 100%
	f.Add([]byte{6, 95, 0, 13, 6, 5, 1, 14}, "", "", "api")                     // canary with tags
	f.Add([]byte{1, 100, 0, 0, 6, 0, 1, 14}, "", "", "svc")                     // LATEST + tag-only
	f.Add([]byte{3, 100, 0, 0}, "", "", "")                                     // Latest and revision
	f.Add([]byte{6, 50, 0, 13, 6, 50, 1, 13}, "", "", "")                       // duplicate tag
	f.Add([]byte{6, 100, 255, 255}, "rev-x", strings.Repeat("t", 40), "api-20") // tag too long with service
	f.Add([]byte{2, 200, 0, 0, 2, 156, 1, 0}, "", "", "")                       // -56 and 100+56
	f.Add([]byte{}, "", "", "")
	f.Fuzz(func(t *testing.T, data []byte, name, tag, service string) {
		s := decodeSplit(data, name, tag)
		snap := s.Clone()
		err := traffic.Validate(s, service)
		errEmpty := traffic.Validate(s, "")

		// Nothing panics, whatever the input.
		_ = traffic.Shares(s)
		norm := traffic.Normalize(s)
		_ = s.String()
		_ = traffic.Diff(s, norm)
		_, _ = traffic.TagOf(s, tag)
		_ = traffic.RemoveTag(s, tag)
		_, _ = traffic.SetTag(s, tag, name)
		_, _ = traffic.Pin(s, name)
		_, _ = traffic.RouteAll(s, name)
		_, _ = traffic.Shift(s, "api-1", name, int(len(data)%7))
		if diff := cmp.Diff(snap, s); diff != "" {
			t.Fatalf("input mutated:\n%s", diff)
		}
		if err != nil && !errors.Is(err, twostage.ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
		}
		if errEmpty != nil {
			return
		}

		if err := traffic.Validate(norm, service); (err == nil) != (traffic.Validate(s, service) == nil) {
			t.Fatalf("Normalize changed validity: Validate(%v)=%v, Validate(Normalize)=%v", s.Targets, traffic.Validate(s, service), err)
		}
		if !traffic.Equal(s, norm) || s.String() != norm.String() {
			t.Fatalf("Normalize changed the routing of %v: %v", s, norm)
		}

		pinned, err := traffic.Pin(s, "api-9")
		if err != nil {
			t.Fatalf("Pin(%v, api-9) = %v", s.Targets, err)
		}
		checkResult(t, s, snap, pinned)
		want := traffic.Shares(traffic.Split{Targets: s.Targets, LatestRevision: "api-9"})
		if diff := cmp.Diff(positive(want), positive(traffic.Shares(pinned))); diff != "" {
			t.Fatalf("Pin changed the shares of %v (-want +got):\n%s", s.Targets, diff)
		}

		routed, err := traffic.Route(pinned, positive(traffic.Shares(pinned)))
		if err != nil {
			t.Fatalf("Route(%v, own shares) = %v", pinned.Targets, err)
		}
		checkResult(t, pinned, pinned.Clone(), routed)
		if !traffic.Equal(pinned, routed) {
			t.Fatalf("Route to own shares changed %v into %v", pinned, routed)
		}

		all, err := traffic.RouteAll(s, "api-1")
		if err != nil {
			t.Fatalf("RouteAll(%v) = %v", s.Targets, err)
		}
		checkResult(t, s, snap, all)
	})
}
