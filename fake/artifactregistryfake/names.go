package artifactregistryfake

import (
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Resource names, per the artifactregistrypb field comments:
//
//	projects/P/locations/L/repositories/R
//	projects/P/locations/L/repositories/R/packages/PKG       (PKG url-path-escaped)
//	…/packages/PKG/tags/TAG
//	…/packages/PKG/versions/sha256:HEX
//	projects/P/locations/L/repositories/R/dockerImages/IMAGE@sha256:HEX

// parseRepo splits "projects/P/locations/L/repositories/R".
func parseRepo(name string) (project, location, repo string, err error) {
	p := strings.Split(name, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "locations" || p[4] != "repositories" || p[1] == "" || p[3] == "" || p[5] == "" {
		return "", "", "", status.Errorf(codes.InvalidArgument, "invalid repository name %q: want projects/PROJECT/locations/LOCATION/repositories/REPOSITORY", name)
	}
	return p[1], p[3], p[5], nil
}

// parseParentLocation splits "projects/P/locations/L".
func parseParentLocation(name string) (project, location string, err error) {
	p := strings.Split(name, "/")
	if len(p) != 4 || p[0] != "projects" || p[2] != "locations" || p[1] == "" || p[3] == "" {
		return "", "", status.Errorf(codes.InvalidArgument, "invalid parent %q: want projects/PROJECT/locations/LOCATION", name)
	}
	return p[1], p[3], nil
}

// parsePackage splits "REPO/packages/PKG" into the repository name and the
// unescaped package id.
func parsePackage(name string) (repo, pkg string, err error) {
	repo, esc, ok := strings.Cut(name, "/packages/")
	if !ok || esc == "" || strings.Contains(esc, "/") {
		return "", "", status.Errorf(codes.InvalidArgument, "invalid package name %q: want projects/P/locations/L/repositories/R/packages/PACKAGE with '/' in PACKAGE escaped as %%2F", name)
	}
	if _, _, _, err := parseRepo(repo); err != nil {
		return "", "", err
	}
	pkg, uerr := url.PathUnescape(esc)
	if uerr != nil || pkg == "" {
		return "", "", status.Errorf(codes.InvalidArgument, "invalid package name %q: bad escaping in %q", name, esc)
	}
	return repo, pkg, nil
}

// parseChild splits "PACKAGE/KIND/ID" (KIND "tags" or "versions").
func parseChild(name, kind string) (repo, pkg, id string, err error) {
	i := strings.LastIndex(name, "/"+kind+"/")
	if i < 0 {
		return "", "", "", status.Errorf(codes.InvalidArgument, "invalid %s name %q: want …/packages/PACKAGE/%s/ID", strings.TrimSuffix(kind, "s"), name, kind)
	}
	repo, pkg, err = parsePackage(name[:i])
	if err != nil {
		return "", "", "", err
	}
	id, uerr := url.PathUnescape(name[i+len(kind)+2:])
	if uerr != nil || id == "" || strings.Contains(id, "/") {
		return "", "", "", status.Errorf(codes.InvalidArgument, "invalid %s name %q: empty or bad id", strings.TrimSuffix(kind, "s"), name)
	}
	return repo, pkg, id, nil
}

// parseDockerImage splits "REPO/dockerImages/IMAGE@sha256:HEX".
func parseDockerImage(name string) (repo, pkg, digest string, err error) {
	repo, rest, ok := strings.Cut(name, "/dockerImages/")
	bad := status.Errorf(codes.InvalidArgument, "invalid docker image name %q: want projects/P/locations/L/repositories/R/dockerImages/IMAGE@sha256:HEX", name)
	if !ok {
		return "", "", "", bad
	}
	if _, _, _, err := parseRepo(repo); err != nil {
		return "", "", "", err
	}
	// The digest never contains '@'; an escaped package name may (PathEscape
	// keeps it), so the separator is the last '@'.
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return "", "", "", bad
	}
	esc, digest := rest[:at], rest[at+1:]
	if esc == "" || !strings.HasPrefix(digest, "sha256:") {
		return "", "", "", bad
	}
	pkg, uerr := url.PathUnescape(esc)
	if uerr != nil {
		return "", "", "", bad
	}
	return repo, pkg, digest, nil
}

func packageName(repo, pkg string) string { return repo + "/packages/" + url.PathEscape(pkg) }

func tagName(repo, pkg, tag string) string {
	return packageName(repo, pkg) + "/tags/" + url.PathEscape(tag)
}

func versionName(repo, pkg, digest string) string {
	return packageName(repo, pkg) + "/versions/" + digest
}

func dockerImageName(repo, pkg, digest string) string {
	return repo + "/dockerImages/" + url.PathEscape(pkg) + "@" + digest
}
