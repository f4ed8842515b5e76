package cloudrunfake

import (
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	typeLatest   = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
	typeRevision = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
)

// dnsLabel is the form of service ids, revision names and traffic tags
// (RFC 1123 labels, the form Cloud Run reports in its name errors; see
// Fidelity).
var dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// maxTagAndService is the limit on len(tag)+len(service). The error text is the one the API returns through gcloud:
// "spec.traffic.tag: traffic tag 'T' and service name 'S' together are too
// long. Combined traffic tag and service name cannot exceed 46 characters."
// (quoted in PolicyEngine/policyengine-api issue #3729 and
// solana-foundation/tokens PR #89, 23+25 characters refused).
const maxTagAndService = 46

// defaultTraffic is what an empty traffic list means: "If traffic is empty or
// not provided, defaults to 100% traffic to the latest `Ready` Revision."
// (Service.traffic comment). Writing the default back into the stored
// Service is unverified.
func defaultTraffic() []*runpb.TrafficTarget {
	return []*runpb.TrafficTarget{{Type: typeLatest, Percent: 100}}
}

// validateTraffic checks the traffic targets of service (short name).
// Every failure is INVALID_ARGUMENT; the texts are ours (unverified)
// except the 46-character rule. A revision that does not exist is not
// checked here: it fails the operation (missingRevision).
func validateTraffic(service string, targets []*runpb.TrafficTarget) error {
	sum := int32(0)
	tags := map[string]int{}
	for i, t := range targets {
		if t == nil {
			return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: empty traffic target", i)
		}
		if t.Percent < 0 || t.Percent > 100 {
			return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: percent %d is not in 0..100", i, t.Percent)
		}
		sum += t.Percent
		switch t.Type {
		case typeLatest:
			if t.Revision != "" {
				return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: a TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST target must not name a revision, got %q; use TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", i, t.Revision)
			}
		case typeRevision:
			if t.Revision == "" {
				return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: a TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION target needs a revision name", i)
			}
			if strings.Contains(t.Revision, "/") {
				return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: revision %q must be a short revision name, not a resource name", i, t.Revision)
			}
		default:
			// Strict by choice (unverified): the real API may infer the type.
			return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: type %v is not supported; use TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST or TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", i, t.Type)
		}
		if t.Tag != "" {
			if !dnsLabel.MatchString(t.Tag) {
				return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: tag %q is not a DNS label (lower-case letters, digits and hyphens, starting with a letter)", i, t.Tag)
			}
			if len(t.Tag)+len(service) > maxTagAndService {
				return status.Errorf(codes.InvalidArgument, "spec.traffic.tag: traffic tag '%s' and service name '%s' together are too long. Combined traffic tag and service name cannot exceed 46 characters.", t.Tag, service)
			}
			// Tags need at least three characters: the real API refuses
			// shorter ones (PolicyEngine/policyengine-sim-api issue #656;
			// the error text here is the emulator's own).
			if len(t.Tag) < 3 {
				return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: tag %q is shorter than 3 characters", i, t.Tag)
			}
			if j, dup := tags[t.Tag]; dup {
				return status.Errorf(codes.InvalidArgument, "service.traffic[%d]: tag %q is already used by service.traffic[%d]; tags must be unique", i, t.Tag, j)
			}
			tags[t.Tag] = i
		}
	}
	if sum != 100 {
		return status.Errorf(codes.InvalidArgument, "service.traffic: percents add up to %d, want 100", sum)
	}
	return nil
}

// trafficStatuses mirrors traffic with LATEST resolved to the latest ready
// revision (Service.traffic_statuses "Detailed status information for
// corresponding traffic targets"); tagged entries get their tag URI.
func trafficStatuses(svc *runpb.Service, latestReadyShort string) []*runpb.TrafficTargetStatus {
	proj, loc, name := splitServiceName(svc.GetName())
	out := make([]*runpb.TrafficTargetStatus, 0, len(svc.GetTraffic()))
	for _, t := range svc.GetTraffic() {
		ts := &runpb.TrafficTargetStatus{Type: t.Type, Revision: t.Revision, Percent: t.Percent, Tag: t.Tag}
		if t.Type == typeLatest {
			ts.Revision = latestReadyShort
		}
		if t.Tag != "" {
			ts.Uri = tagURI(t.Tag, proj, loc, name)
		}
		out = append(out, ts)
	}
	return out
}

// serviceURI is "https://SERVICE-HASH-REGIONCODE.a.run.app" where HASH is
// ten characters of a hash of project and service and REGIONCODE is the
// short region code (uc for us-central1). The real HASH is assigned by
// Google and depends on the project (unverified here); ours is deterministic.
func serviceURI(project, location, service string) string {
	return "https://" + service + "-" + urlHash(project) + "-" + regionCode(location) + ".a.run.app"
}

// numberURI is the deterministic URL "https://SERVICE-PROJECT_NUMBER.REGION.run.app"
// every service also answers (cloud.google.com/run/docs/triggering/https-request:
// "Deterministic URL").
func numberURI(number, location, service string) string {
	return "https://" + service + "-" + number + "." + location + ".run.app"
}

// tagURI is "https://TAG---SERVICE-HASH-REGIONCODE.a.run.app", the form of
// Cloud Run's tag URLs (cloud.google.com/run/docs/rollouts-rollbacks-traffic-migration).
func tagURI(tag, project, location, service string) string {
	return "https://" + tag + "---" + service + "-" + urlHash(project) + "-" + regionCode(location) + ".a.run.app"
}

// urlHash is the HASH of run.app URLs: one per project, shared by its
// services (seen in GoogleCloudPlatform/cloud-run-mcp issue #16, where two
// services of one project carry the same hash; how Google derives it is
// unknown).
func urlHash(project string) string {
	sum := sha256.Sum256([]byte(project))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [10]byte
	for i := range b {
		b[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(b[:])
}

// regionCode returns the region code seen in real run.app URLs for common
// regions (unverified beyond these); other regions use the first letters of
// the region's parts.
func regionCode(location string) string {
	switch location {
	case "us-central1":
		return "uc"
	case "us-east1":
		return "ue"
	case "us-east4":
		return "uk"
	case "us-west1":
		return "uw"
	case "europe-west1":
		return "ew"
	case "europe-west2":
		return "nw"
	case "asia-northeast1":
		return "an"
	}
	var b strings.Builder
	for _, part := range strings.Split(location, "-") {
		if part != "" {
			b.WriteByte(part[0])
		}
	}
	return b.String()
}

// splitServiceName splits "projects/P/locations/L/services/S"; malformed
// names give empty parts (names are validated on the way in).
func splitServiceName(name string) (project, location, service string) {
	p := strings.Split(name, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "locations" || p[4] != "services" {
		return "", "", ""
	}
	return p[1], p[3], p[5]
}

// parseParent checks "projects/P/locations/L" (CreateServiceRequest.parent).
func parseParent(parent string) (project, location string, err error) {
	p := strings.Split(parent, "/")
	if len(p) != 4 || p[0] != "projects" || p[2] != "locations" || p[1] == "" || p[3] == "" {
		return "", "", status.Errorf(codes.InvalidArgument, "parent %q is not of the form projects/{project}/locations/{location}", parent)
	}
	if p[3] == "-" {
		// ListServicesRequest.parent: "Location must be a valid Google Cloud
		// region, and cannot be the "-" wildcard."
		return "", "", status.Errorf(codes.InvalidArgument, "parent %q: location must be a region, not the \"-\" wildcard", parent)
	}
	return p[1], p[3], nil
}

// parseServiceName checks "projects/P/locations/L/services/S".
func parseServiceName(name string) (project, location, service string, err error) {
	project, location, service = splitServiceName(name)
	if project == "" || location == "" || service == "" {
		return "", "", "", status.Errorf(codes.InvalidArgument, "name %q is not of the form projects/{project}/locations/{location}/services/{service}", name)
	}
	return project, location, service, nil
}

// parseRevisionName checks
// "projects/P/locations/L/services/S/revisions/R" and returns the service's
// full name and the short revision name.
func parseRevisionName(name string) (service, short string, err error) {
	i := strings.LastIndex(name, "/revisions/")
	if i < 0 {
		return "", "", status.Errorf(codes.InvalidArgument, "name %q is not of the form projects/{project}/locations/{location}/services/{service}/revisions/{revision}", name)
	}
	service, short = name[:i], name[i+len("/revisions/"):]
	if _, _, _, err := parseServiceName(service); err != nil || short == "" || strings.Contains(short, "/") {
		return "", "", status.Errorf(codes.InvalidArgument, "name %q is not of the form projects/{project}/locations/{location}/services/{service}/revisions/{revision}", name)
	}
	return service, short, nil
}

// validateServiceID follows CreateServiceRequest.service_id: "It must begin
// with letter, and cannot end with hyphen; must contain fewer than 50
// characters."
func validateServiceID(id string) error {
	if len(id) >= 50 || !dnsLabel.MatchString(id) {
		return status.Errorf(codes.InvalidArgument, "service_id %q: it must begin with a letter, contain only lower-case letters, digits and hyphens, not end with a hyphen, and have fewer than 50 characters", id)
	}
	return nil
}

// validateRevisionName checks "<service>-<suffix>",
// ^[a-z]([-a-z0-9]*[a-z0-9])?$, at most 63 characters: the DNS-label form;
// the service-name prefix is unverified (RevisionTemplate.revision says
// only that a generated name is "based on the Service name"; see Fidelity).
func validateRevisionName(service, rev string) error {
	if !strings.HasPrefix(rev, service+"-") || len(rev) == len(service)+1 {
		return status.Errorf(codes.InvalidArgument, "service.template.revision %q must be the service name %q, a hyphen and a suffix", rev, service)
	}
	if len(rev) > 63 || !dnsLabel.MatchString(rev) {
		return status.Errorf(codes.InvalidArgument, "service.template.revision %q must match ^[a-z]([-a-z0-9]*[a-z0-9])?$ and have at most 63 characters", rev)
	}
	return nil
}

// reservedNamespaces are rejected in labels and annotations: "Cloud Run API v2
// does not support labels with `run.googleapis.com`, `cloud.googleapis.com`,
// `serving.knative.dev`, or `autoscaling.knative.dev` namespaces, and they
// will be rejected." (Service.labels, Service.annotations,
// RevisionTemplate.labels, RevisionTemplate.annotations comments).
func reservedNamespaces() [4]string {
	return [...]string{"run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev"}
}

// reservedNamespace returns the reserved namespace key is under, or "".
// "run.googleapis.com/x" and "x.run.googleapis.com/y" are both under
// run.googleapis.com (subdomains: unverified).
func reservedNamespace(key string) string {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return ""
	}
	for _, ns := range reservedNamespaces() {
		if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
			return ns
		}
	}
	return ""
}

// checkReserved rejects reserved keys of m (field names the map), except
// those in keep with the same value (Service.annotations: "they will be
// rejected in new resources", so an existing one may stay).
func checkReserved(field string, m, keep map[string]string) error {
	for k, v := range m {
		if ns := reservedNamespace(k); ns != "" {
			if old, ok := keep[k]; ok && old == v {
				continue
			}
			return status.Errorf(codes.InvalidArgument, "%s: key %q is in the reserved namespace %q; Cloud Run API v2 rejects labels and annotations under run.googleapis.com, cloud.googleapis.com, serving.knative.dev and autoscaling.knative.dev, use the corresponding Service or RevisionTemplate field instead", field, k, ns)
		}
	}
	return nil
}

// autoRevisionName is "<service>-<generation, 5 digits>-<3 letters>", the
// form of generated Cloud Run revision names; the letters are derived from
// the service name, generation and attempt so runs are reproducible.
func autoRevisionName(fullService, short string, generation int64, attempt int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", fullService, generation, attempt))
	return fmt.Sprintf("%s-%05d-%c%c%c", short, generation, 'a'+sum[0]%26, 'a'+sum[1]%26, 'a'+sum[2]%26)
}

// cloneTraffic deep-copies a traffic list.
func cloneTraffic(in []*runpb.TrafficTarget) []*runpb.TrafficTarget {
	if in == nil {
		return nil
	}
	out := make([]*runpb.TrafficTarget, len(in))
	for i, t := range in {
		out[i] = proto.Clone(t).(*runpb.TrafficTarget)
	}
	return out
}

// missingRevision is the operation's error of a write whose traffic names
// a revision that does not exist: "Revision '…' does not exist or is
// deleted. Update all traffic to route to currently available revisions."
// with code 13 (INTERNAL), as the real API reported it in the operation
// (terraform-google-modules/terraform-docs-samples PR #269); the request
// itself is accepted.
func missingRevision(rev string) error {
	return status.Errorf(codes.Internal, "Revision '%s' does not exist or is deleted. Update all traffic to route to currently available revisions.", rev)
}
