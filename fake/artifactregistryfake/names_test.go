package artifactregistryfake

import (
	"strings"
	"testing"
)

// FuzzNames checks that the resource-name parsers never panic and that
// names built by the emulator parse back to their parts, whatever the
// package (with slashes) and tag.
func FuzzNames(f *testing.F) {
	f.Add("projects/p/locations/l/repositories/r", "team/api", "v1.4.2", "projects/p/locations/l/repositories/r/packages/team%2Fapi/tags/v1")
	f.Add("projects/p/locations/l/repositories/r", "api", "4f2c1e0", "projects/p/locations/l/repositories/r/dockerImages/api@sha256:00")
	f.Add("projects/p/locations/l/repositories/r", "a%2Fb", "x%y", "…/packages//tags/")
	f.Fuzz(func(t *testing.T, repo, pkg, tag, raw string) {
		// Arbitrary input: no panic.
		parseRepo(raw)
		parsePackage(raw)
		parseChild(raw, "tags")
		parseChild(raw, "versions")
		parseDockerImage(raw)
		if _, _, _, err := parseRepo(repo); err != nil || pkg == "" || tag == "" || strings.Contains(tag, "/") {
			return
		}
		r, p, tg, err := parseChild(tagName(repo, pkg, tag), "tags")
		if err != nil || r != repo || p != pkg || tg != tag {
			t.Fatalf("parseChild(tagName(%q, %q, %q)) = %q, %q, %q, %v", repo, pkg, tag, r, p, tg, err)
		}
		const d = "sha256:0123"
		r, p, dg, err := parseDockerImage(dockerImageName(repo, pkg, d))
		if err != nil || r != repo || p != pkg || dg != d {
			t.Fatalf("parseDockerImage(dockerImageName(%q, %q)) = %q, %q, %q, %v", repo, pkg, r, p, dg, err)
		}
	})
}

// FuzzFilter checks the filter parser and the wildcard matcher: no panic,
// a pattern without '*' matches only itself, and "*" matches everything.
func FuzzFilter(f *testing.F) {
	f.Add(`name="projects/p/*/tags/t*"`, "projects/p/x/tags/t1")
	f.Add(`version = "a*b*c"`, "abc")
	f.Add(`name=`, "")
	f.Fuzz(func(t *testing.T, filter, s string) {
		if _, v, err := parseFilter(filter); err == nil {
			wildcard(v, s)
		}
		if !wildcard("*", s) {
			t.Fatalf("wildcard(*, %q) = false", s)
		}
		if !strings.Contains(s, "*") && !wildcard(s, s) {
			t.Fatalf("wildcard(%q, itself) = false", s)
		}
		if !strings.Contains(filter, "*") && wildcard(filter, s) != (strings.ToLower(filter) == strings.ToLower(s)) {
			t.Fatalf("wildcard(%q, %q) disagrees with case-insensitive equality", filter, s)
		}
	})
}
