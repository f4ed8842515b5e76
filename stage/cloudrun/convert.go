package cloudrun

import (
	"fmt"
	"maps"
	"path"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// shortName returns the last path element of a resource name
// ("projects/p/locations/r/services/s/revisions/s-1" → "s-1"); a short name
// is returned as is. latest_ready_revision and latest_created_revision are
// full resource names (runpb Service); traffic entries name revisions by
// their short name.
func shortName(name string) string {
	if name == "" {
		return ""
	}
	return path.Base(name)
}

// splitOf converts a service to a split.
func splitOf(svc *runpb.Service) traffic.Split {
	s := traffic.Split{
		Version:        svc.GetEtag(),
		State:          svc.GetAnnotations()[StateAnnotation],
		LatestRevision: shortName(svc.GetLatestReadyRevision()),
	}
	for _, t := range svc.GetTraffic() {
		s.Targets = append(s.Targets, targetOf(t))
	}
	return s
}

func targetOf(t *runpb.TrafficTarget) traffic.Target {
	out := traffic.Target{Percent: int(t.GetPercent()), Tag: t.GetTag()}
	if t.GetType() == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST {
		out.Latest = true
	} else {
		out.Revision = shortName(t.GetRevision())
	}
	return out
}

// trafficOf converts targets to Cloud Run traffic entries.
func trafficOf(ts []traffic.Target) []*runpb.TrafficTarget {
	out := make([]*runpb.TrafficTarget, 0, len(ts))
	for _, t := range ts {
		p := &runpb.TrafficTarget{Percent: int32(t.Percent), Tag: t.Tag}
		if t.Latest {
			p.Type = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
		} else {
			p.Type = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
			p.Revision = t.Revision
		}
		out = append(out, p)
	}
	return out
}

// splitString renders targets for logs with [traffic.Split.String].
func splitString(ts []traffic.Target) string {
	return traffic.Split{Targets: ts}.String()
}

// readyCondition returns the "Ready" condition, or nil. Revisions report
// their readiness in a condition of that type (runpb Revision.conditions:
// "The Condition of this Revision, containing its readiness status"; the
// type name follows Cloud Run's v1 Knative conditions, unverified for v2).
func readyCondition(conds []*runpb.Condition) *runpb.Condition {
	for _, c := range conds {
		if c.GetType() == "Ready" {
			return c
		}
	}
	return nil
}

// containerOf returns container name (the first container when name is
// empty), or nil.
func containerOf(cs []*runpb.Container, name string) *runpb.Container {
	for _, c := range cs {
		if name == "" || c.GetName() == name {
			return c
		}
	}
	return nil
}

// artifactOf parses an image reference into an artifact. An image deployed
// by tag (not by this package) yields its repository and an empty digest;
// an unparsable one yields the zero Artifact.
func artifactOf(image string) registry.Artifact {
	ref, err := registry.ParseReference(image)
	if err != nil {
		return registry.Artifact{}
	}
	return registry.Artifact{Repository: ref.Repository, Digest: ref.Digest}
}

// revisionOf converts a revision, with the service's URLs.
func (s *Service) revisionOf(rev *runpb.Revision, svc *runpb.Service) stage.Revision {
	name := shortName(rev.GetName())
	out := stage.Revision{
		Name:   name,
		Ready:  readyCondition(rev.GetConditions()).GetState() == runpb.Condition_CONDITION_SUCCEEDED,
		URL:    svc.GetUri(),
		Labels: maps.Clone(rev.GetLabels()),
	}
	if c := containerOf(rev.GetContainers(), s.container); c != nil {
		out.Artifact = artifactOf(c.GetImage())
	}
	if ts := rev.GetCreateTime(); ts != nil {
		out.Created = ts.AsTime()
	}
	out.TagURLs = tagURLs(svc, name)
	return out
}

// tagURLs returns the URLs of the tags that point at revision name, from the
// service's traffic_statuses (a tagged LATEST entry points at
// latest_ready_revision).
func tagURLs(svc *runpb.Service, name string) map[string]string {
	var out map[string]string
	for _, st := range svc.GetTrafficStatuses() {
		if st.GetTag() == "" || st.GetUri() == "" {
			continue
		}
		rev := shortName(st.GetRevision())
		if st.GetType() == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST && rev == "" {
			rev = shortName(svc.GetLatestReadyRevision())
		}
		if rev != name {
			continue
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[st.GetTag()] = st.GetUri()
	}
	return out
}

// describeCondition renders a condition for an error message.
func describeCondition(c *runpb.Condition) string {
	if c == nil {
		return "no Ready condition"
	}
	msg := c.GetMessage()
	if msg == "" {
		msg = c.GetReason().String()
	}
	return fmt.Sprintf("Ready %s: %s", strings.TrimPrefix(c.GetState().String(), "CONDITION_"), msg)
}

// templateOf returns the revision template rev was made from, named after
// rev, so that a service whose template is set to it adopts rev without a
// new revision (Split.Template). It copies back every field Cloud Run
// copies from a template into a revision (runpb Revision and
// RevisionTemplate share these fields); output-only fields stay behind.
func templateOf(rev *runpb.Revision) *runpb.RevisionTemplate {
	r := proto.Clone(rev).(*runpb.Revision)
	return &runpb.RevisionTemplate{
		Revision:                      shortName(r.GetName()),
		Labels:                        r.Labels,
		Annotations:                   r.Annotations,
		Scaling:                       r.Scaling,
		VpcAccess:                     r.VpcAccess,
		Timeout:                       r.Timeout,
		ServiceAccount:                r.ServiceAccount,
		Containers:                    r.Containers,
		Volumes:                       r.Volumes,
		ExecutionEnvironment:          r.ExecutionEnvironment,
		EncryptionKey:                 r.EncryptionKey,
		MaxInstanceRequestConcurrency: r.MaxInstanceRequestConcurrency,
		ServiceMesh:                   r.ServiceMesh,
		EncryptionKeyRevocationAction: r.EncryptionKeyRevocationAction,
		EncryptionKeyShutdownDuration: r.EncryptionKeyShutdownDuration,
		SessionAffinity:               r.SessionAffinity,
		NodeSelector:                  r.NodeSelector,
		GpuZonalRedundancyDisabled:    r.GpuZonalRedundancyDisabled,
		Sandboxes:                     r.Sandboxes,
		WorkloadIdentityConfig:        r.WorkloadIdentityConfig,
		Client:                        r.Client,
		ClientVersion:                 r.ClientVersion,
		AmbientNetworking:             r.AmbientNetworking,
	}
}
