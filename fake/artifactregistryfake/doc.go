// Package artifactregistryfake is an in-process emulator of the subset of
// the Artifact Registry API (google.devtools.artifactregistry.v1) that
// package registry/artifactregistry uses, served over real gRPC on
// loopback, in front of a real OCI distribution registry (go-containerregistry's
// in-memory pkg/registry on an httptest server).
//
// An image pushed over the OCI protocol to [Server.RegistryHost] under
// "HOST/PROJECT/REPOSITORY/IMAGE:TAG" appears in the API as package IMAGE
// of repository PROJECT/REPOSITORY, with a version named by its digest and
// a tag, exactly as Artifact Registry reports docker pushes. Tags created,
// moved or deleted through the API are mirrored onto the OCI registry.
//
// Emulated RPCs: GetRepository, ListRepositories, CreateRepository (its
// operation is returned done), GetPackage, ListPackages, GetTag, ListTags
// (filters name="…" and version="…", with * wildcards), CreateTag,
// UpdateTag, DeleteTag, GetVersion, ListVersions, GetDockerImage,
// ListDockerImages, and google.longrunning.Operations.GetOperation. Lists
// page with page_size (default 100, at most 1000) and page_token. Every
// other RPC answers codes.Unimplemented naming the method.
//
// Fault injection and the request log are those of every emulator in
// fake/... (package fake/emulation): [WithErrorInjection], [WithLatency],
// [Server.InjectError], [Server.Requests] and [Server.Count], by full gRPC
// method name.
//
// # Fidelity
//
// IAM (WithIAM, on by default in fake/emulators): API calls need the
// artifactregistry.repositories/packages/versions/tags/dockerimages
// permission of their method on the repository (or its project); OCI
// pulls need artifactregistry.repositories.downloadArtifacts, pushes
// uploadArtifacts, deletes deleteArtifacts (Artifact Registry's access
// control reference). A refused registry request answers 403 DENIED with
// IAM's message; in strict mode one without credentials answers 401 with
// a Basic challenge, so clients send the token as the password of
// oauth2accesstoken (the form `gcloud auth print-access-token | docker
// login -u oauth2accesstoken` uses). Cloud Run pulls a revision's image as
// its service agent (ServiceAgentOCIHandler), unchecked. The 401/403
// bodies are unverified.
//
// REST/JSON: the emulator's address (and the shared one of fake/emulators)
// also answers the API's REST paths, transcoded from the google.api.http
// annotations into the same gRPC methods (connectrpc.com/vanguard), so
// the official REST clients (NewXxxRESTClient with endpoint
// "http://HOST:PORT") work and see the same behaviour, request log and
// injected faults, with errors in Google's JSON error shape. Unverified:
// the transcoder's own errors (malformed JSON, unknown query parameters,
// a wrong HTTP method: 405 here), unknown JSON fields (dropped here),
// partial responses ("fields") and error details, which are not emulated.
//
// Behaviour and sources:
//   - Resource names, the escaping of slashes in package names
//     ("team%2Fapi") and version names "…/versions/sha256:…" follow the
//     field comments of artifactregistrypb.Tag, Version and Package.
//   - docker_config.immutable_tags: "prevents all tags from being modified,
//     moved or deleted. This does not prevent tags from being created"
//     (artifactregistrypb.Repository_DockerRepositoryConfig). The emulator
//     answers UpdateTag and DeleteTag of such a tag with FAILED_PRECONDITION
//     and an OCI push that would move one with HTTP 409 / TAG_INVALID; the
//     codes are unverified (the comment gives none).
//   - Pushing to a repository that does not exist answers HTTP 404
//     NAME_UNKNOWN (unverified status; the real registry refuses the push).
//   - DockerImage names "…/dockerImages/IMAGE@sha256:…" follow the
//     DockerImage.name comment; the escaping of '/' in IMAGE as "%2F" is
//     unverified. Version.metadata carries imageSizeBytes, mediaType and
//     buildTime, as the DockerImage field comments say.
//   - Hostile input: a manifest over [MaxManifestBytes] (4 MiB) answers
//     413 (the OCI distribution spec: registries SHOULD answer 413 over
//     their limit and accept at least 4 MB); a manifest that is not a JSON
//     object of a Docker v2 schema 2 / OCI media type with schemaVersion 2,
//     or declares a negative size, answers 400 MANIFEST_INVALID and is not
//     stored; a repository name or reference outside the spec's grammar
//     answers 400 NAME_INVALID / MANIFEST_INVALID; an n that is not a
//     non-negative integer answers 400 PAGINATION_NUMBER_INVALID (the
//     Docker registry API's code) instead of reaching go-containerregistry,
//     whose tags/list panicked on n=-1; a blob upload request over
//     [WithMaxBlobBytes] answers 413 SIZE_INVALID. gRPC requests over 4
//     MiB answer RESOURCE_EXHAUSTED (grpc-go's default limit).
//   - A repository's IAM policy (GetIamPolicy, SetIamPolicy,
//     TestIamPermissions; google.iam.v1 as the ArtifactRegistry service
//     declares them): empty until set, bindings replaced ("Overwrites
//     any existing policy"), audit_configs only when the update_mask names
//     them, a stale etag ABORTED (internal/emulator.SetPolicy, shared with
//     the Cloud Run emulator). TestIamPermissions grants every permission
//     asked for.
//
// Unverified (no source at hand; the real API may differ):
//   - the codes of UpdateTag/DeleteTag of an immutable tag
//     (FAILED_PRECONDITION) and of an OCI push moving one (HTTP 409
//     TAG_INVALID);
//   - the HTTP status of a push to a repository that does not exist
//     (404 NAME_UNKNOWN);
//   - the escaping of '/' in DockerImage names as "%2F";
//   - the ABORTED code and text of a policy write with a stale etag, and
//     the policy etag's form;
//   - the default page size of 100 (AIP-158 leaves it to the service);
//   - every NOT_FOUND and ALREADY_EXISTS message (the emulator's own);
//   - Artifact Registry's own manifest and blob size limits, and whether it
//     refuses the other manifest media types (schema 1, artifacts);
//   - the gRPC message limit of Google's front ends (the emulator keeps
//     grpc-go's 4 MiB).
package artifactregistryfake
