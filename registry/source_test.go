package registry_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/registry"
)

// writeTree creates files (path → content; a trailing "*" in the path
// marks an executable) under a new temporary directory, in the given order.
func writeTree(t *testing.T, files [][2]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p, exec := strings.CutSuffix(f[0], "*")
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o600)
		if exec {
			mode = 0o700
		}
		if err := os.WriteFile(full, []byte(f[1]), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var tree = [][2]string{
	{"main.go", "package main\n"},
	{"static/index.html", "<h1>hi</h1>\n"},
	{"static/css/site.css", "body{}\n"},
	{"run.sh*", "#!/bin/sh\nexec /app/api\n"},
}

func build(t *testing.T, base v1.Image, spec registry.BuildSpec) v1.Image {
	t.Helper()
	img, err := registry.Build(t.Context(), base, spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestBuildIsReproducible(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, tree)
	spec := registry.BuildSpec{Dir: dir, Entrypoint: []string{"/app/run.sh"}, Env: []string{"PORT=8080"}}
	want := digestOf(t, build(t, nil, spec))

	// Same content written in another order, in another directory, with
	// other modification times and non-executable permission bits.
	reversed := make([][2]string, len(tree))
	for i, f := range tree {
		reversed[len(tree)-1-i] = f
	}
	other := writeTree(t, reversed)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.WalkDir(other, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chtimes(p, old, old)
			if !strings.HasSuffix(p, "run.sh") {
				os.Chmod(p, 0o640)
			}
		}
		return err
	})
	sameSpec := spec
	sameSpec.Dir = other
	for i := range 3 {
		if got := digestOf(t, build(t, nil, sameSpec)); got != want {
			t.Errorf("build %d of the same content: digest %s, want %s", i, got, want)
		}
	}

	changed := func(name string, mutateSpec func(*registry.BuildSpec)) {
		t.Run(name, func(t *testing.T) {
			s := spec
			mutateSpec(&s)
			if got := digestOf(t, build(t, nil, s)); got == want {
				t.Errorf("digest unchanged (%s) after %s", got, name)
			}
		})
	}
	changed("one byte changed", func(s *registry.BuildSpec) {
		s.Dir = writeTree(t, append([][2]string{{"main.go", "package main!"}}, tree[1:]...))
	})
	changed("executable bit dropped", func(s *registry.BuildSpec) {
		s.Dir = writeTree(t, append(append([][2]string{}, tree[:3]...), [2]string{"run.sh", tree[3][1]}))
	})
	changed("file renamed", func(s *registry.BuildSpec) {
		s.Dir = writeTree(t, append([][2]string{{"main2.go", "package main\n"}}, tree[1:]...))
	})
	changed("created time", func(s *registry.BuildSpec) { s.Created = time.Unix(1700000000, 0) })
	changed("env", func(s *registry.BuildSpec) { s.Env = []string{"PORT=9090"} })
}

// TestBuildLayerGolden pins the uncompressed layer (DiffID) of a fixed
// input: a change here changes every digest users have recorded.
func TestBuildLayerGolden(t *testing.T) {
	t.Parallel()
	img := build(t, nil, registry.BuildSpec{Files: map[string][]byte{"/app/hello.txt": []byte("hello\n")}})
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("Layers = %d, %v; want 1 layer", len(layers), err)
	}
	diffID, err := layers[0].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	const golden = "sha256:402200a96b525497e6ec67e2775e49b7e41a971592712dece6d3cdbab07c3b9d"
	if diffID.String() != golden {
		t.Errorf("DiffID = %s, want %s", diffID, golden)
	}
}

type tarEntry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	Uname    string
	ModTime  time.Time
	Link     string
	Body     string
}

func TestBuildLayerContents(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, [][2]string{{"b.txt", "b"}, {"a/x*", "x"}})
	if err := os.Symlink("b.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "api")
	if err := os.WriteFile(bin, []byte("ELF"), 0o600); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	img := build(t, nil, registry.BuildSpec{
		Dir:      dir,
		DirDest:  "/srv/site",
		Files:    map[string][]byte{"/etc/app.conf": []byte("k=v")},
		Binaries: map[string]string{bin: "/usr/local/bin/api"},
		Created:  created,
	})
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []tarEntry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, tarEntry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Uname, h.ModTime.UTC(), h.Linkname, string(body)})
	}
	d := func(n string) tarEntry { return tarEntry{Name: n, Type: tar.TypeDir, Mode: 0o755, ModTime: created} }
	f := func(n, body string, mode int64) tarEntry {
		return tarEntry{Name: n, Type: tar.TypeReg, Mode: mode, ModTime: created, Body: body}
	}
	want := []tarEntry{
		d("etc/"),
		f("etc/app.conf", "k=v", 0o644),
		d("srv/"),
		d("srv/site/"),
		d("srv/site/a/"),
		f("srv/site/a/x", "x", 0o755),
		f("srv/site/b.txt", "b", 0o644),
		{Name: "srv/site/link", Type: tar.TypeSymlink, Mode: 0o777, ModTime: created, Link: "b.txt"},
		d("usr/"),
		d("usr/local/"),
		d("usr/local/bin/"),
		f("usr/local/bin/api", "ELF", 0o755),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer entries mismatch (-want +got):\n%s", diff)
	}
}

func TestBuildConfig(t *testing.T) {
	t.Parallel()
	base := build(t, nil, registry.BuildSpec{
		Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "true"},
		Env: []string{"PATH=/bin", "PORT=1"}, Labels: map[string]string{"a": "1"},
	})
	img := build(t, base, registry.BuildSpec{
		Entrypoint: []string{"/app/api"}, Env: []string{"PORT=8080", "MODE=prod"},
		WorkingDir: "/app", Labels: map[string]string{"b": "2"},
	})
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Entrypoint: []string{"/app/api"},
		Env:        []string{"PATH=/bin", "PORT=8080", "MODE=prod"},
		WorkingDir: "/app",
		Labels:     map[string]string{"a": "1", "b": "2"},
	}
	if diff := cmp.Diff(want, cf.Config); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created = %s, want the Unix epoch", cf.Created.Time)
	}
	if n := len(cf.RootFS.DiffIDs); n != 2 {
		t.Errorf("image has %d layers, want 2", n)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	arm := build(t, nil, registry.BuildSpec{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	tests := []struct {
		name string
		base v1.Image
		spec registry.BuildSpec
		want error
	}{
		{"relative file path", nil, registry.BuildSpec{Files: map[string][]byte{"app/x": nil}}, twostage.ErrInvalid},
		{"root file path", nil, registry.BuildSpec{Files: map[string][]byte{"/": nil}}, twostage.ErrInvalid},
		{"file under a file", nil, registry.BuildSpec{Files: map[string][]byte{"/a": nil, "/a/b": nil}}, twostage.ErrInvalid},
		{"bad env", nil, registry.BuildSpec{Env: []string{"NOEQUALS"}}, twostage.ErrInvalid},
		{"relative working dir", nil, registry.BuildSpec{WorkingDir: "app"}, twostage.ErrInvalid},
		{"platform mismatch", arm, registry.BuildSpec{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}, twostage.ErrInvalid},
		{"missing binary", nil, registry.BuildSpec{Binaries: map[string]string{"/nonexistent/api": "/app/api"}}, os.ErrNotExist},
		{"missing dir", nil, registry.BuildSpec{Dir: "/nonexistent/dir"}, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := registry.Build(t.Context(), tt.base, tt.spec); !errors.Is(err, tt.want) {
				t.Errorf("Build = %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
}

func TestBuildHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := registry.Build(ctx, nil, registry.BuildSpec{Dir: writeTree(t, tree)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestFromTarball(t *testing.T) {
	t.Parallel()
	a := build(t, nil, registry.BuildSpec{Files: map[string][]byte{"/a": []byte("a")}})
	b := build(t, nil, registry.BuildSpec{Files: map[string][]byte{"/b": []byte("b")}})
	single := filepath.Join(t.TempDir(), "single.tar")
	if err := tarball.WriteToFile(single, name.MustParseReference("example.com/api:latest"), a); err != nil {
		t.Fatal(err)
	}
	multi := filepath.Join(t.TempDir(), "multi.tar")
	if err := tarball.MultiRefWriteToFile(multi, map[name.Reference]v1.Image{
		name.MustParseReference("example.com/a:1"): a,
		name.MustParseReference("example.com/b:1"): b,
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, tag string
		want            v1.Image
		wantErr         bool
	}{
		{"only image", single, "", a, false},
		{"by tag", multi, "example.com/b:1", b, false},
		{"other tag", multi, "example.com/a:1", a, false},
		{"ambiguous", multi, "", nil, true},
		{"missing tag", multi, "example.com/c:1", nil, true},
		{"missing file", filepath.Join(t.TempDir(), "none.tar"), "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img, err := registry.FromTarball(tt.path, tt.tag)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("FromTarball(%s, %q) succeeded, want an error", tt.path, tt.tag)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromTarball: %v", err)
			}
			// A docker-save tarball keeps the config and layers but not the
			// manifest, which is rebuilt: compare what it keeps.
			if got, want := configName(t, img), configName(t, tt.want); got != want {
				t.Errorf("config digest = %s, want %s", got, want)
			}
			if diff := cmp.Diff(diffIDs(t, tt.want), diffIDs(t, img)); diff != "" {
				t.Errorf("layers mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromLayout(t *testing.T) {
	t.Parallel()
	amd := build(t, nil, registry.BuildSpec{Files: map[string][]byte{"/amd": []byte("amd")}})
	arm := build(t, nil, registry.BuildSpec{Files: map[string][]byte{"/arm": []byte("arm")}, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	armOnly := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})

	one := t.TempDir()
	p, err := layout.Write(one, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(amd); err != nil {
		t.Fatal(err)
	}
	several := t.TempDir()
	p, err = layout.Write(several, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{p.AppendImage(arm), p.AppendIndex(idx), p.AppendIndex(armOnly)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, dir, digest string
		want              v1.Image
		wantErr           error
	}{
		{"only image", one, "", amd, nil},
		{"by digest", several, digestOf(t, arm), arm, nil},
		{"index picks linux/amd64", several, mustDigest(t, idx), amd, nil},
		{"index without linux/amd64", several, mustDigest(t, armOnly), nil, twostage.ErrInvalid},
		{"ambiguous", several, "", nil, twostage.ErrInvalid},
		{"unknown digest", several, testDigest, nil, twostage.ErrNotFound},
		{"malformed digest", several, "sha256:zz", nil, twostage.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img, err := registry.FromLayout(tt.dir, tt.digest)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("FromLayout = %v, want an error wrapping %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromLayout: %v", err)
			}
			if got, want := digestOf(t, img), digestOf(t, tt.want); got != want {
				t.Errorf("digest = %s, want %s", got, want)
			}
		})
	}
	if _, err := registry.FromLayout(t.TempDir(), ""); err == nil {
		t.Error("FromLayout of an empty directory succeeded, want an error")
	}
}

func mustDigest(t *testing.T, idx v1.ImageIndex) string {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func configName(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func diffIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range cf.RootFS.DiffIDs {
		ids = append(ids, h.String())
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		h, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, "layer "+h.String())
	}
	return ids
}
