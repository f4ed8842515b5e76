package artifactregistryfake

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twostage/twostage/internal/emulator"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// sortedPage returns one page of all sorted by name, or err if the items
// could not be collected.
func sortedPage[T interface{ GetName() string }](all []T, err error, size int32, token string) ([]T, string, error) {
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(all, func(a, b T) int { return strings.Compare(a.GetName(), b.GetName()) })
	return emulator.Page(all, size, token)
}

func notFound(kind, name string) error {
	return status.Errorf(codes.NotFound, "%s %q not found", kind, name)
}

// repo returns the repository state. s.mu must be held.
func (s *server) repo(name string) (*repoState, error) {
	if _, _, _, err := parseRepo(name); err != nil {
		return nil, err
	}
	r := s.repos[name]
	if r == nil {
		return nil, notFound("repository", name)
	}
	return r, nil
}

// pkg returns the package state. s.mu must be held.
func (s *server) pkg(repoName, pkg string) (*pkgState, *repoState, error) {
	r, err := s.repo(repoName)
	if err != nil {
		return nil, nil, err
	}
	p := r.packages[pkg]
	if p == nil {
		return nil, nil, notFound("package", packageName(repoName, pkg))
	}
	return p, r, nil
}

func (s *server) GetRepository(_ context.Context, req *artifactregistrypb.GetRepositoryRequest) (*artifactregistrypb.Repository, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(r.pb).(*artifactregistrypb.Repository), nil
}

func (s *server) ListRepositories(_ context.Context, req *artifactregistrypb.ListRepositoriesRequest) (*artifactregistrypb.ListRepositoriesResponse, error) {
	if _, _, err := parseParentLocation(req.GetParent()); err != nil {
		return nil, err
	}
	match, err := nameFilter(req.GetFilter(), "name")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*artifactregistrypb.Repository
	for name, r := range s.repos {
		if strings.HasPrefix(name, req.GetParent()+"/repositories/") && match(name) {
			all = append(all, proto.Clone(r.pb).(*artifactregistrypb.Repository))
		}
	}
	s.mu.Unlock()
	items, next, err := sortedPage(all, err, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &artifactregistrypb.ListRepositoriesResponse{Repositories: items, NextPageToken: next}, nil
}

var repoIDRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CreateRepository stores the repository and returns an operation that is
// already done, so the client's Wait returns without polling.
func (s *server) CreateRepository(_ context.Context, req *artifactregistrypb.CreateRepositoryRequest) (*longrunningpb.Operation, error) {
	project, location, err := parseParentLocation(req.GetParent())
	if err != nil {
		return nil, err
	}
	if !repoIDRE.MatchString(req.GetRepositoryId()) {
		return nil, status.Errorf(codes.InvalidArgument, "repository_id %q must start with a lower-case letter and contain only lower-case letters, digits and hyphens (at most 63 characters)", req.GetRepositoryId())
	}
	name := req.GetParent() + "/repositories/" + req.GetRepositoryId()
	r := proto.Clone(req.GetRepository()).(*artifactregistrypb.Repository)
	if r == nil {
		r = &artifactregistrypb.Repository{}
	}
	r.Name = name
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.repos[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "repository %q already exists", name)
	}
	s.addRepo(r, s.cfg.Clock.Now())
	resp, err := anypb.New(s.repos[name].pb)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "packing response: %v", err)
	}
	meta, err := anypb.New(&artifactregistrypb.OperationMetadata{})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "packing metadata: %v", err)
	}
	s.opSeq++
	op := &longrunningpb.Operation{
		Name:     fmt.Sprintf("projects/%s/locations/%s/operations/%s-%d", project, location, s.opSalt, s.opSeq),
		Metadata: meta,
		Done:     true,
		Result:   &longrunningpb.Operation_Response{Response: resp},
	}
	s.ops[op.Name] = op
	return proto.Clone(op).(*longrunningpb.Operation), nil
}

func (s *server) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.ops[req.GetName()]
	if op == nil {
		return nil, notFound("operation", req.GetName())
	}
	return proto.Clone(op).(*longrunningpb.Operation), nil
}

func (s *server) packagePB(repoName, pkg string, p *pkgState) *artifactregistrypb.Package {
	return &artifactregistrypb.Package{Name: packageName(repoName, pkg), DisplayName: pkg, CreateTime: ts(p.created), UpdateTime: ts(p.updated)}
}

func (s *server) GetPackage(_ context.Context, req *artifactregistrypb.GetPackageRequest) (*artifactregistrypb.Package, error) {
	repoName, pkg, err := parsePackage(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.pkg(repoName, pkg)
	if err != nil {
		return nil, err
	}
	return s.packagePB(repoName, pkg, p), nil
}

func (s *server) ListPackages(_ context.Context, req *artifactregistrypb.ListPackagesRequest) (*artifactregistrypb.ListPackagesResponse, error) {
	match, err := nameFilter(req.GetFilter(), "name")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	r, err := s.repo(req.GetParent())
	var all []*artifactregistrypb.Package
	if err == nil {
		for id, p := range r.packages {
			if pb := s.packagePB(req.GetParent(), id, p); match(pb.Name) {
				all = append(all, pb)
			}
		}
	}
	s.mu.Unlock()
	items, next, err := sortedPage(all, err, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &artifactregistrypb.ListPackagesResponse{Packages: items, NextPageToken: next}, nil
}

func (s *server) GetTag(_ context.Context, req *artifactregistrypb.GetTagRequest) (*artifactregistrypb.Tag, error) {
	repoName, pkg, tag, err := parseChild(req.GetName(), "tags")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.pkg(repoName, pkg)
	if err != nil {
		return nil, err
	}
	d, ok := p.tags[tag]
	if !ok {
		return nil, notFound("tag", req.GetName())
	}
	return &artifactregistrypb.Tag{Name: tagName(repoName, pkg, tag), Version: versionName(repoName, pkg, d)}, nil
}

func (s *server) ListTags(_ context.Context, req *artifactregistrypb.ListTagsRequest) (*artifactregistrypb.ListTagsResponse, error) {
	repoName, pkg, err := parsePackage(req.GetParent())
	if err != nil {
		return nil, err
	}
	match, err := tagFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	p, _, err := s.pkg(repoName, pkg)
	var all []*artifactregistrypb.Tag
	if err == nil {
		for t, d := range p.tags {
			if tg := (&artifactregistrypb.Tag{Name: tagName(repoName, pkg, t), Version: versionName(repoName, pkg, d)}); match(tg) {
				all = append(all, tg)
			}
		}
	}
	s.mu.Unlock()
	items, next, err := sortedPage(all, err, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &artifactregistrypb.ListTagsResponse{Tags: items, NextPageToken: next}, nil
}

// tagTarget checks that version names a version of the package and returns
// its digest. s.mu must be held.
func (s *server) tagTarget(repoName, pkg string, p *pkgState, version string) (*versionState, error) {
	vr, vp, d, err := parseChild(version, "versions")
	if err != nil {
		return nil, err
	}
	if vr != repoName || vp != pkg {
		return nil, status.Errorf(codes.InvalidArgument, "tag version %q is not a version of package %q", version, packageName(repoName, pkg))
	}
	v := p.versions[d]
	if v == nil {
		return nil, notFound("version", version)
	}
	return v, nil
}

func (s *server) CreateTag(_ context.Context, req *artifactregistrypb.CreateTagRequest) (*artifactregistrypb.Tag, error) {
	repoName, pkg, err := parsePackage(req.GetParent())
	if err != nil {
		return nil, err
	}
	tag := req.GetTagId()
	if tag == "" || strings.Contains(tag, "/") {
		return nil, status.Errorf(codes.InvalidArgument, "tag_id %q must be a non-empty tag without '/'", tag)
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	p, _, err := s.pkg(repoName, pkg)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if _, ok := p.tags[tag]; ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "tag %q already exists", tagName(repoName, pkg, tag))
	}
	v, err := s.tagTarget(repoName, pkg, p, req.GetTag().GetVersion())
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.setTag(repoName, pkg, tag, v)
}

// setTag mirrors the tag to the OCI registry and records it. s.pushMu must
// be held.
func (s *server) setTag(repoName, pkg, tag string, v *versionState) (*artifactregistrypb.Tag, error) {
	if err := s.mirrorTag(repoName, pkg, tag, v.mediaType, v.manifest); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.pkg(repoName, pkg)
	if err != nil {
		return nil, err
	}
	p.tags[tag] = v.digest
	p.updated = s.cfg.Clock.Now()
	return &artifactregistrypb.Tag{Name: tagName(repoName, pkg, tag), Version: versionName(repoName, pkg, v.digest)}, nil
}

// UpdateTag moves a tag. The update mask may be empty or "version".
func (s *server) UpdateTag(_ context.Context, req *artifactregistrypb.UpdateTagRequest) (*artifactregistrypb.Tag, error) {
	for _, f := range req.GetUpdateMask().GetPaths() {
		if f != "version" {
			return nil, status.Errorf(codes.InvalidArgument, "update_mask path %q: only \"version\" can be updated", f)
		}
	}
	repoName, pkg, tag, err := parseChild(req.GetTag().GetName(), "tags")
	if err != nil {
		return nil, err
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	p, r, err := s.pkg(repoName, pkg)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	cur, ok := p.tags[tag]
	if !ok {
		s.mu.Unlock()
		return nil, notFound("tag", req.GetTag().GetName())
	}
	v, err := s.tagTarget(repoName, pkg, p, req.GetTag().GetVersion())
	if err == nil && cur != v.digest && r.pb.GetDockerConfig().GetImmutableTags() {
		// Repository_DockerRepositoryConfig.immutable_tags: "prevents all
		// tags from being modified, moved or deleted". Code unverified.
		err = status.Errorf(codes.FailedPrecondition, "tag %q cannot be moved: repository %q has immutable tags", tag, repoName)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.setTag(repoName, pkg, tag, v)
}

func (s *server) DeleteTag(_ context.Context, req *artifactregistrypb.DeleteTagRequest) (*emptypb.Empty, error) {
	repoName, pkg, tag, err := parseChild(req.GetName(), "tags")
	if err != nil {
		return nil, err
	}
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	p, r, err := s.pkg(repoName, pkg)
	if err == nil {
		if _, ok := p.tags[tag]; !ok {
			err = notFound("tag", req.GetName())
		} else if r.pb.GetDockerConfig().GetImmutableTags() {
			err = status.Errorf(codes.FailedPrecondition, "tag %q cannot be deleted: repository %q has immutable tags", tag, repoName)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.mirrorTag(repoName, pkg, tag, "", nil); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(p.tags, tag)
	return &emptypb.Empty{}, nil
}

// tagsOf returns the sorted tags pointing at digest. s.mu must be held.
func tagsOf(p *pkgState, digest string) []string {
	var out []string
	for t, d := range p.tags {
		if d == digest {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func (s *server) versionPB(repoName, pkg string, p *pkgState, v *versionState, full bool) *artifactregistrypb.Version {
	out := &artifactregistrypb.Version{
		Name:       versionName(repoName, pkg, v.digest),
		CreateTime: ts(v.created),
		UpdateTime: ts(v.updated),
	}
	if full {
		for _, t := range tagsOf(p, v.digest) {
			out.RelatedTags = append(out.RelatedTags, &artifactregistrypb.Tag{Name: tagName(repoName, pkg, t), Version: out.Name})
		}
		// The DockerImage field comments name these metadata keys.
		out.Metadata, _ = structpb.NewStruct(map[string]any{
			"name":           dockerImageName(repoName, pkg, v.digest),
			"imageSizeBytes": strconv.FormatInt(v.size, 10),
			"mediaType":      v.mediaType,
			"buildTime":      v.created.UTC().Format(time.RFC3339Nano),
		})
	}
	return out
}

func (s *server) GetVersion(_ context.Context, req *artifactregistrypb.GetVersionRequest) (*artifactregistrypb.Version, error) {
	repoName, pkg, d, err := parseChild(req.GetName(), "versions")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.pkg(repoName, pkg)
	if err != nil {
		return nil, err
	}
	v := p.versions[d]
	if v == nil {
		return nil, notFound("version", req.GetName())
	}
	return s.versionPB(repoName, pkg, p, v, req.GetView() == artifactregistrypb.VersionView_FULL), nil
}

func (s *server) ListVersions(_ context.Context, req *artifactregistrypb.ListVersionsRequest) (*artifactregistrypb.ListVersionsResponse, error) {
	repoName, pkg, err := parsePackage(req.GetParent())
	if err != nil {
		return nil, err
	}
	match, err := nameFilter(req.GetFilter(), "name")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	p, _, err := s.pkg(repoName, pkg)
	var all []*artifactregistrypb.Version
	if err == nil {
		for _, v := range p.versions {
			if pb := s.versionPB(repoName, pkg, p, v, req.GetView() == artifactregistrypb.VersionView_FULL); match(pb.Name) {
				all = append(all, pb)
			}
		}
	}
	s.mu.Unlock()
	items, next, err := sortedPage(all, err, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &artifactregistrypb.ListVersionsResponse{Versions: items, NextPageToken: next}, nil
}

func (s *server) dockerImagePB(repoName, pkg string, p *pkgState, v *versionState) *artifactregistrypb.DockerImage {
	return &artifactregistrypb.DockerImage{
		Name:           dockerImageName(repoName, pkg, v.digest),
		Uri:            s.host + "/" + ociRepo(repoName, pkg) + "@" + v.digest,
		Tags:           tagsOf(p, v.digest),
		ImageSizeBytes: v.size,
		UploadTime:     ts(v.created),
		MediaType:      v.mediaType,
		BuildTime:      ts(v.created),
		UpdateTime:     ts(v.updated),
	}
}

func (s *server) GetDockerImage(_ context.Context, req *artifactregistrypb.GetDockerImageRequest) (*artifactregistrypb.DockerImage, error) {
	repoName, pkg, d, err := parseDockerImage(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.pkg(repoName, pkg)
	if err != nil {
		return nil, notFound("docker image", req.GetName())
	}
	v := p.versions[d]
	if v == nil {
		return nil, notFound("docker image", req.GetName())
	}
	return s.dockerImagePB(repoName, pkg, p, v), nil
}

func (s *server) ListDockerImages(_ context.Context, req *artifactregistrypb.ListDockerImagesRequest) (*artifactregistrypb.ListDockerImagesResponse, error) {
	s.mu.Lock()
	r, err := s.repo(req.GetParent())
	var all []*artifactregistrypb.DockerImage
	if err == nil {
		for id, p := range r.packages {
			for _, v := range p.versions {
				all = append(all, s.dockerImagePB(req.GetParent(), id, p, v))
			}
		}
	}
	s.mu.Unlock()
	items, next, err := sortedPage(all, err, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &artifactregistrypb.ListDockerImagesResponse{DockerImages: items, NextPageToken: next}, nil
}

// nameFilter supports the filter `FIELD="VALUE"` with * wildcards (the
// form the List request comments document); "" matches everything. Other
// filters answer INVALID_ARGUMENT rather than being ignored.
func nameFilter(filter, field string) (func(string) bool, error) {
	if strings.TrimSpace(filter) == "" {
		return func(string) bool { return true }, nil
	}
	f, v, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	if f != field {
		return nil, status.Errorf(codes.InvalidArgument, "artifactregistryfake: filter %q is not emulated; use %s=\"…\"", filter, field)
	}
	return func(s string) bool { return wildcard(v, s) }, nil
}

func tagFilter(filter string) (func(*artifactregistrypb.Tag) bool, error) {
	if strings.TrimSpace(filter) == "" {
		return func(*artifactregistrypb.Tag) bool { return true }, nil
	}
	f, v, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	switch f {
	case "name":
		return func(t *artifactregistrypb.Tag) bool { return wildcard(v, t.Name) }, nil
	case "version":
		return func(t *artifactregistrypb.Tag) bool { return wildcard(v, t.Version) }, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "artifactregistryfake: filter %q is not emulated; use name=\"…\" or version=\"…\"", filter)
}

func parseFilter(filter string) (field, value string, err error) {
	f, v, ok := strings.Cut(strings.TrimSpace(filter), "=")
	v = strings.TrimSpace(v)
	if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", "", status.Errorf(codes.InvalidArgument, "artifactregistryfake: filter %q is not emulated; use FIELD=\"VALUE\"", filter)
	}
	return strings.ToLower(strings.TrimSpace(f)), v[1 : len(v)-1], nil
}

// wildcard matches s against pattern, where * matches any run of
// characters. Filter rules are case insensitive (request comments).
func wildcard(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
