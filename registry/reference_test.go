package registry_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ref     string
		want    registry.Reference
		wantErr bool
	}{
		{ref: "europe-west1-docker.pkg.dev/p/apps/api:4f2c1e0", want: registry.Reference{Repository: "europe-west1-docker.pkg.dev/p/apps/api", Tag: "4f2c1e0"}},
		{ref: "localhost:5000/api@sha256:" + hex64, want: registry.Reference{Repository: "localhost:5000/api", Digest: "sha256:" + hex64}},
		{ref: "127.0.0.1:5000/a/b:v1.4.2@sha256:" + hex64, want: registry.Reference{Repository: "127.0.0.1:5000/a/b", Tag: "v1.4.2", Digest: "sha256:" + hex64}},
		{ref: "ghcr.io/org/my_app__x-y.z:latest", want: registry.Reference{Repository: "ghcr.io/org/my_app__x-y.z", Tag: "latest"}},
		{ref: "api:latest", wantErr: true},                      // no host
		{ref: "ghcr.io/org/api", wantErr: true},                 // neither tag nor digest
		{ref: "ghcr.io/Org/api:1", wantErr: true},               // upper-case path
		{ref: "ghcr.io/org/api:.x", wantErr: true},              // tag starts with '.'
		{ref: "ghcr.io/org/api@sha256:ABC", wantErr: true},      // bad digest
		{ref: "ghcr.io/org/api@sha512:" + hex64, wantErr: true}, // wrong algorithm
		{ref: "ghcr.io/org//api:1", wantErr: true},              // empty component
		{ref: "ghcr.io:/org/api:1", wantErr: true},              // empty port
		{ref: "-bad.io/org/api:1", wantErr: true},               // label starts with '-'
		{ref: "ghcr.io/org/api:" + strings.Repeat("a", 129), wantErr: true},
		{ref: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			got, err := registry.ParseReference(tt.ref)
			if tt.wantErr {
				if !errors.Is(err, twostage.ErrInvalid) {
					t.Errorf("ParseReference(%q) = %+v, %v; want an error wrapping ErrInvalid", tt.ref, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.ref, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseReference(%q) mismatch (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

// FuzzParseReference checks that ParseReference never panics, that every
// error wraps ErrInvalid, and that an accepted reference is canonical: it
// reassembles to itself and its parts pass their own validators.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"europe-west1-docker.pkg.dev/p/apps/api:4f2c1e0",
		"localhost:5000/api@sha256:" + hex64,
		"127.0.0.1:5000/a/b:v1.4.2@sha256:" + hex64,
		"ghcr.io/org/my_app__x-y.z:latest",
		"api:latest", "ghcr.io/org/api", "ghcr.io:/a:b", "a.b/c:d@e", "h.io/a:b:c", "h.io/a@b@sha256:" + hex64,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := registry.ParseReference(ref)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("ParseReference(%q) error %v does not wrap ErrInvalid", ref, err)
			}
			return
		}
		if s := r.String(); s != ref {
			t.Fatalf("ParseReference(%q).String() = %q, want the input back", ref, s)
		}
		if r.Tag == "" && r.Digest == "" {
			t.Fatalf("ParseReference(%q) accepted a reference with neither tag nor digest", ref)
		}
		if _, err := registry.ParseRepository(r.Repository); err != nil {
			t.Fatalf("ParseReference(%q) accepted repository %q that ParseRepository rejects: %v", ref, r.Repository, err)
		}
		if r.Digest != "" {
			if err := registry.ValidateDigest(r.Digest); err != nil {
				t.Fatalf("ParseReference(%q) accepted digest %q: %v", ref, r.Digest, err)
			}
		}
		if r.Host() == "" || strings.Contains(r.Host(), "/") {
			t.Fatalf("ParseReference(%q).Host() = %q", ref, r.Host())
		}
		again, err := registry.ParseReference(r.String())
		if err != nil || again != r {
			t.Fatalf("re-parsing %q = %+v, %v; want %+v", r.String(), again, err, r)
		}
	})
}

func TestParseReferenceHostsAndMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ref      string
		ok       bool
		wantHost string
	}{
		{"[::1]:5000/a/b:t", true, "[::1]:5000"},
		{"[::1]/a:t", true, "[::1]"},
		{"[::1:5000/a:t", false, ""},
		{"[zz]:5000/a:t", false, ""},
		{"[127.0.0.1]:5000/a:t", false, ""},
		{"h.io:99999/a:t", false, ""},
		{"h.io:0/a:t", false, ""},
		{"h.io:65535/a:t", true, "h.io:65535"},
		{"localhost:5000/a@sha256:" + strings.Repeat("a", 64), true, "localhost:5000"},
	} {
		r, err := registry.ParseReference(tc.ref)
		if (err == nil) != tc.ok {
			t.Errorf("ParseReference(%q) err = %v, want ok=%v", tc.ref, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("ParseReference(%q) err = %v, want ErrInvalid", tc.ref, err)
		}
		if tc.ok && r.Host() != tc.wantHost {
			t.Errorf("ParseReference(%q).Host() = %q, want %q", tc.ref, r.Host(), tc.wantHost)
		}
	}
	_, err := registry.ParseReference("LOCALHOST/a:t")
	if err == nil || strings.Count(err.Error(), "invalid") != 1 || strings.Count(err.Error(), "registry:") != 1 {
		t.Errorf("error %q repeats its prefix or sentinel", err)
	}
}
