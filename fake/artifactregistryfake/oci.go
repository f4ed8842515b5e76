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
	"strings"
)

// serveOCI fronts the in-memory OCI registry: it refuses repositories the
// API does not know, keeps immutable tags in place, and records manifest
// writes as packages, versions and tags.
func (s *server) serveOCI(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok || rest == "" {
		s.oci.ServeHTTP(w, r)
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
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		ociError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
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
	s.recordManifest(repoName, pkg, tag, digest, r.Header.Get("Content-Type"), body)
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
	defer s.mu.Unlock()
	if strings.HasPrefix(ref, "sha256:") {
		delete(p.versions, ref)
		for t, d := range p.tags {
			if d == ref {
				delete(p.tags, t)
			}
		}
		return
	}
	delete(p.tags, ref)
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
