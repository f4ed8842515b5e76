package artifactregistryfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"

	"github.com/twostage/twostage/internal/emulator"
)

// serveOCI fronts the in-memory OCI registry: it refuses repositories the
// API does not know, keeps immutable tags in place, and records manifest
// writes as packages, versions and tags.
func (s *server) serveOCI(w http.ResponseWriter, r *http.Request) {
	if msg := badPagination(r); msg != "" {
		ociError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", msg)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok || rest == "" {
		if s.ociAuthorized(w, r, "") { // the ping: a 401 makes clients send credentials
			s.oci.ServeHTTP(w, r)
		}
		return
	}
	var name, kind, ref string
	for _, k := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			name, kind, ref = rest[:i], strings.Trim(k, "/"), rest[i+len(k):]
			break
		}
	}
	if name == "" {
		s.oci.ServeHTTP(w, r)
		return
	}
	if !ociName.MatchString(name) {
		ociError(w, http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("invalid repository name %q", name))
		return
	}
	if kind == "manifests" && !ociReference.MatchString(ref) {
		ociError(w, http.StatusBadRequest, "MANIFEST_INVALID", fmt.Sprintf("invalid reference %q: want a tag or a digest", ref))
		return
	}
	if kind == "blobs" && (r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut) {
		if !emulator.LimitBody(w, r, s.cfg.maxBlob) {
			return
		}
		// Read the chunk here, so that an oversized one is answered 413
		// rather than by go-containerregistry's 500 (the registry holds
		// blobs in memory anyway).
		chunk, err := io.ReadAll(r.Body)
		if emulator.TooLarge(err) {
			ociError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", fmt.Sprintf("blob upload exceeds the emulator's limit of %d bytes (WithMaxBlobBytes)", s.cfg.maxBlob))
			return
		}
		if err != nil {
			ociError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(chunk))
	}
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 3 {
		ociError(w, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf("repository path %q must be PROJECT/REPOSITORY/IMAGE", name))
		return
	}
	project, repoID, pkg := parts[0], parts[1], parts[2]
	s.mu.Lock()
	repoName, repo := s.findRepo(project, repoID)
	s.mu.Unlock()
	if repo == nil {
		ociError(w, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf("Repository %q not found in project %q", repoID, project))
		return
	}
	if !s.ociAuthorized(w, r, repoName) {
		return
	}
	if kind != "manifests" || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
		s.oci.ServeHTTP(w, r)
		return
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	if r.Method == http.MethodDelete {
		s.deleteManifest(w, r, repoName, pkg, ref)
		return
	}
	if r.ContentLength > MaxManifestBytes {
		ociError(w, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID", fmt.Sprintf("manifest of %d bytes exceeds the limit of %d bytes", r.ContentLength, MaxManifestBytes))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxManifestBytes+1))
	if err != nil {
		ociError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	if len(body) > MaxManifestBytes {
		ociError(w, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID", fmt.Sprintf("manifest exceeds the limit of %d bytes", MaxManifestBytes))
		return
	}
	mediaType, msg := checkManifest(r.Header.Get("Content-Type"), body)
	if msg != "" {
		ociError(w, http.StatusBadRequest, "MANIFEST_INVALID", msg)
		return
	}
	r.Header.Set("Content-Type", mediaType)
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	tag := ""
	if !strings.HasPrefix(ref, "sha256:") {
		tag = ref
	}
	if tag != "" {
		if msg := s.immutableMove(repoName, pkg, tag, digest); msg != "" {
			ociError(w, http.StatusConflict, "TAG_INVALID", msg)
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w}
	s.oci.ServeHTTP(rec, r)
	if rec.code != http.StatusCreated {
		return
	}
	s.recordManifest(repoName, pkg, tag, digest, mediaType, body)
}

// MaxManifestBytes is the largest manifest the registry accepts: 4 MiB. The
// OCI distribution spec: "A registry SHOULD enforce some limit on the
// maximum manifest size that it can accept. A registry that enforces this
// limit SHOULD respond to a request to push a manifest over this limit with
// a response code 413 Payload Too Large. Client and registry
// implementations SHOULD expect to be able to support manifest pushes of at
// least 4 megabytes." Artifact Registry's own limit is unverified.
const MaxManifestBytes = 4 << 20

// manifestTypes are the manifest media types the registry accepts: Docker
// image manifest v2 schema 2 and its list, and the OCI image manifest and
// index (the formats Artifact Registry documents for Docker repositories).
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// ociName is a repository name (OCI distribution spec, "name").
var ociName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// ociReference is a tag or a digest (OCI distribution spec, "reference").
var ociReference = regexp.MustCompile(`^([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}|[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$`)

// checkManifest returns the media type of a pushed manifest (the
// Content-Type, else the body's mediaType) and "" when it is a JSON object
// of a known manifest type whose declared sizes are not negative, else a
// message saying what is wrong.
func checkManifest(contentType string, body []byte) (string, string) {
	var m struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        *struct {
			Size int64 `json:"size"`
		} `json:"config"`
		Layers    []struct{ Size int64 } `json:"layers"`
		Manifests []struct{ Size int64 } `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Sprintf("manifest is not a JSON object: %v", err)
	}
	mt := contentType
	if mt == "" || mt == "application/octet-stream" {
		mt = m.MediaType
	}
	if !manifestTypes[mt] {
		return "", fmt.Sprintf("manifest media type %q is not supported (Docker v2 schema 2, manifest list, OCI image manifest or index)", mt)
	}
	if m.MediaType != "" && m.MediaType != mt {
		return "", fmt.Sprintf("manifest mediaType %q does not match Content-Type %q", m.MediaType, mt)
	}
	if m.SchemaVersion != 2 {
		return "", fmt.Sprintf("manifest schemaVersion %d: want 2", m.SchemaVersion)
	}
	sizes := make([]int64, 0, len(m.Layers)+len(m.Manifests)+1)
	if m.Config != nil {
		sizes = append(sizes, m.Config.Size)
	}
	for _, l := range m.Layers {
		sizes = append(sizes, l.Size)
	}
	for _, l := range m.Manifests {
		sizes = append(sizes, l.Size)
	}
	for _, n := range sizes {
		if n < 0 {
			return "", fmt.Sprintf("manifest declares a negative size %d", n)
		}
	}
	return mt, ""
}

// badPagination returns a message when the n of a list request (tags/list,
// _catalog, referrers) is not a non-negative integer, which the registry
// answers 400 PAGINATION_NUMBER_INVALID (the error code of the Docker
// registry API, distribution/distribution registry/api/v2/errors.go,
// "invalid number of results requested").
func badPagination(r *http.Request) string {
	ns, ok := r.URL.Query()["n"]
	if !ok {
		return ""
	}
	for _, v := range ns {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return fmt.Sprintf("invalid number of results requested: n=%q", v)
		}
	}
	return ""
}

// immutableMove returns a message when moving tag to digest is refused.
func (s *server) immutableMove(repoName, pkg, tag, digest string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.repos[repoName]
	if repo == nil || !repo.pb.GetDockerConfig().GetImmutableTags() {
		return ""
	}
	p := repo.packages[pkg]
	if p == nil {
		return ""
	}
	if cur, ok := p.tags[tag]; ok && cur != digest {
		return fmt.Sprintf("tag %q of %s is immutable and points to %s; repository %s has docker_config.immutable_tags", tag, pkg, cur, repoName)
	}
	return ""
}

func (s *server) recordManifest(repoName, pkg, tag, digest, mediaType string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.repos[repoName]
	if repo == nil {
		return
	}
	now := s.cfg.Clock.Now()
	p := repo.packages[pkg]
	if p == nil {
		p = &pkgState{created: now, versions: map[string]*versionState{}, tags: map[string]string{}}
		repo.packages[pkg] = p
	}
	p.updated = now
	v := p.versions[digest]
	if v == nil {
		v = &versionState{digest: digest, mediaType: mediaType, size: manifestSize(body), manifest: body, created: now}
		p.versions[digest] = v
	}
	v.updated = now
	if tag != "" {
		p.tags[tag] = digest
	}
	s.cfg.Logger.Debug("artifactregistryfake manifest", "repository", repoName, "package", pkg, "tag", tag, "digest", digest)
}

func (s *server) deleteManifest(w http.ResponseWriter, r *http.Request, repoName, pkg, ref string) {
	s.mu.Lock()
	repo := s.repos[repoName]
	p := repo.packages[pkg]
	refused := false
	if p != nil && !strings.HasPrefix(ref, "sha256:") && repo.pb.GetDockerConfig().GetImmutableTags() {
		_, refused = p.tags[ref]
	}
	s.mu.Unlock()
	if refused {
		ociError(w, http.StatusConflict, "TAG_INVALID", fmt.Sprintf("tag %q of %s cannot be deleted: repository %s has docker_config.immutable_tags", ref, pkg, repoName))
		return
	}
	rec := &statusWriter{ResponseWriter: w}
	s.oci.ServeHTTP(rec, r)
	if rec.code != http.StatusAccepted || p == nil {
		return
	}
	s.mu.Lock()
	if !strings.HasPrefix(ref, "sha256:") {
		delete(p.tags, ref)
		s.mu.Unlock()
		return
	}
	// Deleting a version deletes its tags (Artifact Registry: "Deleting a
	// version … also deletes its tags"; unverified wording): in the API
	// state and in the OCI registry, so that a pull by tag and tags/list
	// agree with ListTags (one view of one registry).
	delete(p.versions, ref)
	var tags []string
	for t, d := range p.tags {
		if d == ref {
			delete(p.tags, t)
			tags = append(tags, t)
		}
	}
	s.mu.Unlock()
	for _, t := range tags {
		if err := s.mirrorTag(repoName, pkg, t, "", nil); err != nil {
			s.cfg.Logger.Warn("artifactregistryfake: removing a deleted version's tag from the OCI registry", "tag", t, "error", err)
		}
	}
}

// mirrorTag points tag at the manifest of digest in the OCI registry (or
// removes it when manifest is nil), so the OCI side agrees with API writes.
// s.pushMu must be held.
func (s *server) mirrorTag(repoName, pkg, tag, mediaType string, manifest []byte) error {
	path := "/v2/" + ociRepo(repoName, pkg) + "/manifests/" + tag
	var req *http.Request
	if manifest == nil {
		req = httptest.NewRequest(http.MethodDelete, path, nil)
	} else {
		req = httptest.NewRequest(http.MethodPut, path, bytes.NewReader(manifest))
		req.Header.Set("Content-Type", mediaType)
	}
	rec := httptest.NewRecorder()
	s.oci.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		return fmt.Errorf("mirroring tag %s to the OCI registry: HTTP %d: %s", tag, rec.Code, rec.Body.String())
	}
	return nil
}

// manifestSize is the manifest's size plus the sizes it references.
func manifestSize(body []byte) int64 {
	var m struct {
		Config    struct{ Size int64 }   `json:"config"`
		Layers    []struct{ Size int64 } `json:"layers"`
		Manifests []struct{ Size int64 } `json:"manifests"`
	}
	n := int64(len(body))
	if json.Unmarshal(body, &m) != nil {
		return n
	}
	n += m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	for _, l := range m.Manifests {
		n += l.Size
	}
	return n
}

func ociError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}})
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
