package cloudrun

import (
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/twostage/twostage/traffic"
)

func TestSplitConversion(t *testing.T) {
	t.Parallel()
	const prefix = "projects/p/locations/r/services/api/revisions/"
	latest := runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
	byRev := runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
	svc := &runpb.Service{
		Etag:                "e1",
		Annotations:         map[string]string{StateAnnotation: "step 2", "other": "x"},
		LatestReadyRevision: prefix + "api-b",
		Traffic: []*runpb.TrafficTarget{
			{Type: latest, Percent: 10, Tag: "head"},
			{Type: byRev, Revision: "api-a", Percent: 90},
			{Type: byRev, Revision: "api-b", Tag: "candidate"},
		},
		TrafficStatuses: []*runpb.TrafficTargetStatus{
			{Type: latest, Percent: 10, Tag: "head", Uri: "https://head---api-x-ew.a.run.app"},
			{Type: byRev, Revision: "api-a", Percent: 90},
			{Type: byRev, Revision: "api-b", Tag: "candidate", Uri: "https://candidate---api-x-ew.a.run.app"},
		},
	}
	want := traffic.Split{
		Targets: []traffic.Target{
			{Latest: true, Percent: 10, Tag: "head"},
			{Revision: "api-a", Percent: 90},
			{Revision: "api-b", Tag: "candidate"},
		},
		Version:        "e1",
		State:          "step 2",
		LatestRevision: "api-b",
	}
	got := splitOf(svc)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitOf() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(svc.GetTraffic(), trafficOf(got.Targets), protocmp.Transform()); diff != "" {
		t.Errorf("trafficOf(splitOf()) mismatch (-want +got):\n%s", diff)
	}
	wantURLs := map[string]string{"head": "https://head---api-x-ew.a.run.app", "candidate": "https://candidate---api-x-ew.a.run.app"}
	if diff := cmp.Diff(wantURLs, tagURLs(svc, "api-b")); diff != "" {
		t.Errorf("tagURLs(api-b) mismatch (-want +got):\n%s", diff)
	}
	if got := tagURLs(svc, "api-a"); got != nil {
		t.Errorf("tagURLs(api-a) = %v, want none", got)
	}
}

func TestArtifactOf(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct{ image, repo, digest string }{
		{"europe-west1-docker.pkg.dev/p/r/api@" + digest, "europe-west1-docker.pkg.dev/p/r/api", digest},
		{"europe-west1-docker.pkg.dev/p/r/api:v1", "europe-west1-docker.pkg.dev/p/r/api", ""},
		{"not an image", "", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		got := artifactOf(c.image)
		if got.Repository != c.repo || got.Digest != c.digest {
			t.Errorf("artifactOf(%q) = %+v, want repository %q digest %q", c.image, got, c.repo, c.digest)
		}
	}
}
