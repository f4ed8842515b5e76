package traffic_test

import (
	"strings"
	"testing"

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
		{name: "service alone over the limit", in: split(rev("api-1", 100, "c")), service: strings.Repeat("s", 49), wantErr: []string{"50 characters", "at most 0"}},
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
