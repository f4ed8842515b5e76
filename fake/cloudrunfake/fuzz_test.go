package cloudrunfake

import (
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
)

func FuzzParseNames(f *testing.F) {
	for _, s := range []string{
		"projects/p/locations/us-central1",
		"projects/p/locations/us-central1/services/web",
		"projects/p/locations/us-central1/services/web/revisions/web-00001-abc",
		"projects//locations/x/services/y",
		"projects/p/locations/-",
		"a/revisions/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if p, l, err := parseParent(name); err == nil {
			if got := "projects/" + p + "/locations/" + l; got != name {
				t.Errorf("parseParent(%q) = %q, %q: does not rebuild the name (%q)", name, p, l, got)
			}
		}
		if p, l, s, err := parseServiceName(name); err == nil {
			if got := "projects/" + p + "/locations/" + l + "/services/" + s; got != name {
				t.Errorf("parseServiceName(%q) rebuilds %q", name, got)
			}
		}
		if svc, short, err := parseRevisionName(name); err == nil {
			if got := svc + "/revisions/" + short; got != name || strings.Contains(short, "/") {
				t.Errorf("parseRevisionName(%q) = %q, %q", name, svc, short)
			}
		}
	})
}

func FuzzValidateRevisionName(f *testing.F) {
	f.Add("web", "web-v1-4-2-abc1234")
	f.Add("web", "web-")
	f.Add("web", "api-1")
	f.Add("a", "a-"+strings.Repeat("b", 70))
	f.Fuzz(func(t *testing.T, service, rev string) {
		if err := validateRevisionName(service, rev); err == nil {
			if !strings.HasPrefix(rev, service+"-") || len(rev) > 63 || !dnsLabel.MatchString(rev) {
				t.Errorf("validateRevisionName(%q, %q) accepted a bad name", service, rev)
			}
		}
		if err := validateServiceID(service); err == nil && (len(service) >= 50 || !dnsLabel.MatchString(service)) {
			t.Errorf("validateServiceID(%q) accepted a bad id", service)
		}
	})
}

// FuzzValidateTraffic decodes targets from data, three bytes each (type,
// percent, tag length), against known revision "web-a".
func FuzzValidateTraffic(f *testing.F) {
	f.Add([]byte{1, 100, 0})
	f.Add([]byte{1, 90, 3, 2, 10, 0})
	f.Add([]byte{2, 100, 44})
	f.Add([]byte{0, 50, 1, 2, 50, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var targets []*runpb.TrafficTarget
		for i := 0; i+2 < len(data) && len(targets) < 8; i += 3 {
			tt := &runpb.TrafficTarget{Type: runpb.TrafficTargetAllocationType(data[i] % 3), Percent: int32(int8(data[i+1]))}
			if tt.Type == typeRevision {
				tt.Revision = "web-a"
			}
			if n := int(data[i+2] % 50); n > 0 {
				tt.Tag = "t" + strings.Repeat(string(rune('a'+len(targets))), n-1)
			}
			targets = append(targets, tt)
		}
		err := validateTraffic("web", targets)
		if err != nil {
			return
		}
		sum := int32(0)
		tags := map[string]bool{}
		for _, tt := range targets {
			sum += tt.Percent
			if tt.Percent < 0 || tt.Percent > 100 {
				t.Errorf("accepted percent %d", tt.Percent)
			}
			if tt.Tag != "" {
				if tags[tt.Tag] || len(tt.Tag)+len("web") > 46 {
					t.Errorf("accepted tag %q", tt.Tag)
				}
				tags[tt.Tag] = true
			}
		}
		if sum != 100 {
			t.Errorf("accepted traffic summing to %d", sum)
		}
	})
}

func FuzzReservedNamespace(f *testing.F) {
	for _, s := range []string{"run.googleapis.com/x", "a.serving.knative.dev/b", "twostage.dev/state", "plain", "cloud.googleapis.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ns := reservedNamespace(key)
		prefix, _, hasSlash := strings.Cut(key, "/")
		if ns != "" && (!hasSlash || !(prefix == ns || strings.HasSuffix(prefix, "."+ns))) {
			t.Errorf("reservedNamespace(%q) = %q", key, ns)
		}
		err := checkReserved("labels", map[string]string{key: "v"}, nil)
		if (err != nil) != (ns != "") {
			t.Errorf("checkReserved(%q) = %v, namespace %q", key, err, ns)
		}
	})
}
