package artifactregistryfake

import (
	"context"
	"net/http"
	"strings"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
)

// WithIAM enforces IAM on every API call and every OCI registry request
// (see emulation.IAM): the caller's token must hold, through the
// repository's policy or its project's, the permission of the method
// (Artifact Registry's access control reference,
// cloud.google.com/artifact-registry/docs/access-control): pulls need
// artifactregistry.repositories.downloadArtifacts, pushes
// …uploadArtifacts, deletes …deleteArtifacts. In strict mode a registry
// request without credentials is answered 401 with a Basic challenge, so
// docker and go-containerregistry send the token (as the password of user
// oauth2accesstoken). The default enforces nothing.
func WithIAM(iam emulation.IAM) Option { return func(c *config) { c.IAM = &iam } }

// authz is the server's IAM enforcement, or nil.
func (s *server) authz() *emulator.Authz {
	return emulator.NewAuthz(s.cfg.Options, arNeeds, s.policyOf)
}

// arNeeds is what each API method needs, on the repository (its
// resource prefix). Operations and TestIamPermissions need nothing.
func arNeeds(_ string, req any) []emulator.Need {
	need := func(perm, resource string) []emulator.Need {
		return []emulator.Need{{Permission: "artifactregistry." + perm, Resource: repoOf(resource)}}
	}
	switch r := req.(type) {
	case *artifactregistrypb.GetRepositoryRequest:
		return need("repositories.get", r.GetName())
	case *artifactregistrypb.ListRepositoriesRequest:
		return need("repositories.list", r.GetParent())
	case *artifactregistrypb.CreateRepositoryRequest:
		return need("repositories.create", r.GetParent())
	case *artifactregistrypb.GetPackageRequest:
		return need("packages.get", r.GetName())
	case *artifactregistrypb.ListPackagesRequest:
		return need("packages.list", r.GetParent())
	case *artifactregistrypb.GetTagRequest:
		return need("tags.get", r.GetName())
	case *artifactregistrypb.ListTagsRequest:
		return need("tags.list", r.GetParent())
	case *artifactregistrypb.CreateTagRequest:
		return need("tags.create", r.GetParent())
	case *artifactregistrypb.UpdateTagRequest:
		return need("tags.update", r.GetTag().GetName())
	case *artifactregistrypb.DeleteTagRequest:
		return need("tags.delete", r.GetName())
	case *artifactregistrypb.GetVersionRequest:
		return need("versions.get", r.GetName())
	case *artifactregistrypb.ListVersionsRequest:
		return need("versions.list", r.GetParent())
	case *artifactregistrypb.GetDockerImageRequest:
		return need("dockerimages.get", r.GetName())
	case *artifactregistrypb.ListDockerImagesRequest:
		return need("dockerimages.list", r.GetParent())
	case *iampb.GetIamPolicyRequest:
		return need("repositories.getIamPolicy", r.GetResource())
	case *iampb.SetIamPolicyRequest:
		return need("repositories.setIamPolicy", r.GetResource())
	}
	return nil
}

// repoOf cuts a resource name to its repository,
// "projects/P/locations/L/repositories/R" (a location stays as it is).
func repoOf(resource string) string {
	parts := strings.SplitN(resource, "/", 7)
	if len(parts) >= 6 && parts[4] == "repositories" {
		return strings.Join(parts[:6], "/")
	}
	return resource
}

// policyOf returns the repository's policy, or nil.
func (s *server) policyOf(resource string) *iampb.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[resource]
	if r == nil || r.policy == nil {
		return nil
	}
	return proto.Clone(r.policy).(*iampb.Policy)
}

// ociAuthorized checks an OCI registry request on repository repoName
// (""): the registry's ping) and answers a refusal itself: 401 with a
// Basic challenge (UNAUTHORIZED), or 403 DENIED with IAM's message.
func (s *server) ociAuthorized(w http.ResponseWriter, r *http.Request, repoName string) bool {
	a := s.authz()
	if a == nil || r.Context().Value(serviceAgentKey{}) != nil {
		return true
	}
	var needs []emulator.Need
	if repoName != "" {
		perm := "artifactregistry.repositories.downloadArtifacts"
		switch r.Method {
		case http.MethodPut, http.MethodPost, http.MethodPatch:
			perm = "artifactregistry.repositories.uploadArtifacts"
		case http.MethodDelete:
			perm = "artifactregistry.repositories.deleteArtifacts"
		}
		needs = []emulator.Need{{Permission: perm, Resource: repoName}}
	}
	err := a.Check(r.Header.Get("Authorization"), needs)
	switch status.Code(err) {
	case codes.OK:
		return true
	case codes.Unauthenticated:
		w.Header().Set("WWW-Authenticate", `Basic realm="artifactregistryfake"`)
		ociError(w, http.StatusUnauthorized, "UNAUTHORIZED", status.Convert(err).Message())
	default:
		ociError(w, http.StatusForbidden, "DENIED", status.Convert(err).Message())
	}
	return false
}

// ServiceAgentOCIHandler returns the OCI registry as Cloud Run's service
// agent reaches it to pull a revision's image: IAM is not checked (the
// agent is granted access by the platform), whatever [WithIAM] says. It
// is for the Cloud Run emulator's data plane, not for clients.
func (s *Server) ServiceAgentOCIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.s.serveOCI(w, r.WithContext(context.WithValue(r.Context(), serviceAgentKey{}, true)))
	})
}

// serviceAgentKey marks a request of ServiceAgentOCIHandler.
type serviceAgentKey struct{}
