package cloudrun

import (
	"regexp"
	"strings"
	"testing"

	"github.com/twostage/twostage/internal/names"

	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

func FuzzParseServiceName(f *testing.F) {
	for _, s := range []string{
		"projects/p/locations/europe-west1/services/api",
		"projects/p/locations/r/services/API",
		"projects/p/locations/r/services/a-",
		"projects//locations/r/services/api",
		"api",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		short, err := parseServiceName(name)
		if err != nil {
			if short != "" {
				t.Errorf("parseServiceName(%q) = %q with error %v", name, short, err)
			}
			return
		}
		if !names.DNSLabel(short) || len(short) > 49 || !strings.HasSuffix(name, "/services/"+short) || !strings.HasPrefix(name, "projects/") {
			t.Errorf("parseServiceName(%q) = %q, accepted a bad name", name, short)
		}
		if stage.ValidateServiceName(short) != nil {
			t.Errorf("parseServiceName(%q) = %q, which stage.ValidateServiceName refuses", name, short)
		}
	})
}

var labelRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
var labelValueRE = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)

func FuzzValidateLabel(f *testing.F) {
	f.Add("team", "core")
	f.Add("run.googleapis.com/x", "y")
	f.Add("Team", "")
	f.Add("t", strings.Repeat("v", 64))
	f.Add("k", "ü")
	f.Fuzz(func(t *testing.T, k, v string) {
		err := stage.ValidateLabel(k, v)
		if want := labelRE.MatchString(k) && labelValueRE.MatchString(v); (err == nil) != want {
			t.Errorf("stage.ValidateLabel(%q, %q) = %v, want valid: %v", k, v, err, want)
		}
	})
}

// fuzzSplit decodes data into a split of up to 5 targets over three
// revisions and LATEST (latest ready revision api-b).
func fuzzSplit(data []byte) traffic.Split {
	revs := []string{"api-a", "api-b", "api-c"}
	tags := []string{"", "t1", "t2", "candidate"}
	cur := traffic.Split{LatestRevision: "api-b"}
	for i := 0; i+1 < len(data) && len(cur.Targets) < 5; i += 2 {
		b := data[i]
		tg := traffic.Target{Percent: int(data[i+1]), Tag: tags[int(b>>4)&3]}
		if b&0x80 != 0 {
			tg.Latest = true
		} else {
			tg.Revision = revs[int(b&0x0f)%len(revs)]
		}
		cur.Targets = append(cur.Targets, tg)
	}
	return cur
}

// badTag reports whether tag is refused by traffic.Validate.
func badTag(tag string) bool {
	return tag != "" && traffic.Validate(traffic.Split{Targets: []traffic.Target{{Revision: "api-new", Percent: 100, Tag: tag}}}, "api") != nil
}

// FuzzRouteNone checks the RouteNone rule on arbitrary valid splits: the
// revisions serving before serve the same shares after the new revision
// becomes the latest, and every release tag points at the new revision.
func FuzzRouteNone(f *testing.F) {
	f.Add([]byte{0x80, 100}, "candidate")
	f.Add([]byte{0x01, 50, 0x82, 50}, "stable")
	f.Add([]byte{0x81, 100, 0x12, 0}, "")
	f.Add([]byte{0x00, 30, 0x80, 70, 0x21, 0}, "t1")
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		cur := fuzzSplit(data)
		if traffic.Validate(cur, "api") != nil {
			return
		}
		r := stage.Release{Traffic: stage.RouteNone}
		if tag != "" {
			r.Tags = []string{tag}
		}
		got, err := desired(cur, "api-new", r, true, true)
		if err != nil {
			if badTag(tag) {
				return
			}
			t.Fatalf("desired(%v, tag %q) error: %v", cur, tag, err)
		}
		after := traffic.Split{Targets: got, LatestRevision: "api-new"}
		if err := traffic.Validate(after, "api"); err != nil {
			if badTag(tag) {
				return // too long with the service name
			}
			t.Fatalf("desired(%v, tag %q) = %v, invalid: %v", cur, tag, after, err)
		}
		before, now := traffic.Shares(cur), traffic.Shares(after)
		for rev, p := range before {
			if now[rev] != p {
				t.Errorf("desired(%v, tag %q) = %v: %s has %d%%, had %d%%", cur, tag, after, rev, now[rev], p)
			}
		}
		if now["api-new"] != 0 {
			t.Errorf("desired(%v) = %v routes %d%% to the new revision", cur, after, now["api-new"])
		}
		if tag != "" {
			if rev, ok := traffic.TagOf(after, tag); !ok || rev != "api-new" {
				t.Errorf("desired(%v, tag %q) = %v: tag reaches %q, want api-new", cur, tag, after, rev)
			}
		}
	})
}

// FuzzRouteAll checks the RouteAll rule on arbitrary valid splits: the new
// revision gets everything, the release tag reaches it, and every other tag
// still reaches the revision it reached (a tag on LATEST follows LATEST).
func FuzzRouteAll(f *testing.F) {
	f.Add([]byte{0x80, 100}, "dev")
	f.Add([]byte{0x11, 50, 0x82, 50, 0x20, 0}, "t1")
	f.Add([]byte{0x30, 100}, "")
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		cur := fuzzSplit(data)
		if traffic.Validate(cur, "api") != nil {
			return
		}
		r := stage.Release{Traffic: stage.RouteAll}
		if tag != "" {
			r.Tags = []string{tag}
		}
		for _, latest := range []bool{true, false} {
			got, err := desired(cur, "api-new", r, latest, true)
			if err != nil {
				if badTag(tag) {
					return
				}
				t.Fatalf("desired(%v, tag %q, latest %v) error: %v", cur, tag, latest, err)
			}
			after := traffic.Split{Targets: got, LatestRevision: "api-b"}
			if latest {
				after.LatestRevision = "api-new"
			}
			if err := traffic.Validate(after, "api"); err != nil {
				if badTag(tag) {
					return
				}
				t.Fatalf("desired(%v, tag %q) = %v, invalid: %v", cur, tag, after, err)
			}
			if sh := traffic.Shares(after); sh["api-new"] != 100 {
				t.Errorf("desired(%v, latest %v) = %v: api-new has %d%%, want 100", cur, latest, after, sh["api-new"])
			}
			for _, tg := range cur.Targets {
				if tg.Tag == "" || tg.Tag == tag || tg.Latest {
					continue
				}
				if rev, ok := traffic.TagOf(after, tg.Tag); !ok || rev != tg.Revision {
					t.Errorf("desired(%v) = %v: tag %q reaches %q, want %q", cur, after, tg.Tag, rev, tg.Revision)
				}
			}
			if tag != "" {
				if rev, ok := traffic.TagOf(after, tag); !ok || rev != "api-new" {
					t.Errorf("desired(%v, tag %q) = %v: tag reaches %q, want api-new", cur, tag, after, rev)
				}
			}
		}
	})
}
