package monitoringfake

import (
	"testing"
)

// FuzzParseFilter: the filter parser never panics, and a filter it accepts
// yields clauses with a known key and at least one value.
func FuzzParseFilter(f *testing.F) {
	f.Add(`metric.type = "run.googleapis.com/request_count" AND resource.labels.revision_name = one_of("a", "b")`)
	f.Add(`metric.type="x" resource.label."response_code_class"!="4xx"`)
	f.Add(`metric.type = "a\"b"`)
	f.Add(`one_of(`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseFilter(s)
		if err != nil {
			return
		}
		for _, c := range cs {
			if len(c.values) == 0 || c.key == "" {
				t.Fatalf("parseFilter(%q) = %+v", s, cs)
			}
		}
	})
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []clause
	}{
		{`metric.type = "m"`, []clause{{key: "metric.type", values: []string{"m"}}}},
		{`metric.type="m" AND resource.labels.revision_name = one_of("a","b")`, []clause{{key: "metric.type", values: []string{"m"}}, {key: "resource.labels.revision_name", values: []string{"a", "b"}}}},
		{"metric.type = \"m\"\n metric.label.\"response_code_class\" != \"4xx\"", []clause{{key: "metric.type", values: []string{"m"}}, {key: "metric.labels.response_code_class", negate: true, values: []string{"4xx"}}}},
		{`resource.type = "a\"b"`, []clause{{key: "resource.type", values: []string{`a"b`}}}},
	}
	for _, tt := range tests {
		got, err := parseFilter(tt.in)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("parseFilter(%q) = %+v, want %+v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			g, w := got[i], tt.want[i]
			if g.key != w.key || g.negate != w.negate || len(g.values) != len(w.values) {
				t.Errorf("parseFilter(%q)[%d] = %+v, want %+v", tt.in, i, g, w)
				continue
			}
			for j := range g.values {
				if g.values[j] != w.values[j] {
					t.Errorf("parseFilter(%q)[%d] = %+v, want %+v", tt.in, i, g, w)
				}
			}
		}
	}
	for _, bad := range []string{``, `metric.type`, `metric.type = `, `metric.type > "x"`, `metric.kind = "x"`, `metric.type = "x`, `metric.type = one_of("a" "b")`, `metric.type != one_of("a")`} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("parseFilter(%q) succeeded, want an error", bad)
		}
	}
}
