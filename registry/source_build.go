package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BuildSpec describes one image layer and the configuration [Build] puts
// on top of a base image. Every field is optional; the zero BuildSpec
// builds an empty linux/amd64 image.
type BuildSpec struct {
	// Dir is a host directory whose tree is copied into the image under
	// DirDest. Regular files, directories and symbolic links are copied;
	// other file types are an error.
	Dir string
	// DirDest is where Dir lands in the image (default "/app").
	DirDest string
	// Files are extra files by absolute in-image path, mode 0644.
	Files map[string][]byte
	// Binaries maps host paths to absolute in-image paths, mode 0755, for
	// example {"bin/api": "/app/api"}.
	Binaries map[string]string
	// Entrypoint replaces the base image's entrypoint when non-empty (and,
	// as with a Dockerfile ENTRYPOINT, clears the base's Cmd unless Cmd is
	// set).
	Entrypoint []string
	// Cmd replaces the base image's command when non-empty.
	Cmd []string
	// Env entries "KEY=VALUE" are set on top of the base image's
	// environment, replacing entries with the same key.
	Env []string
	// WorkingDir replaces the base image's working directory when set.
	WorkingDir string
	// Labels are added to the image configuration.
	Labels map[string]string
	// Platform is the image platform. The default is the base image's, or
	// linux/amd64 (what Cloud Run runs) when the base has none. A base with
	// a different platform is an error.
	Platform *v1.Platform
	// Created is the timestamp written on every file and in the image
	// configuration, like SOURCE_DATE_EPOCH (default the Unix epoch). It is
	// never the current time, so that the same input gives the same digest.
	Created time.Time
}

// Build returns base with one layer and configuration described by spec,
// without a Docker daemon. A nil base means an empty OCI image.
//
// The result is reproducible: the same base and the same file contents,
// paths and executable bits give the same digest on every machine and run.
// Entries are sorted; timestamps are spec.Created; owner is 0:0 with no
// user or group names; modes are normalised to 0755 for directories and
// executables and 0644 for other files; the gzip stream has no name or
// time and a fixed compression level. Host modification times, owners,
// umask and directory-listing order do not affect the digest.
func Build(ctx context.Context, base v1.Image, spec BuildSpec) (v1.Image, error) {
	if base == nil {
		base = mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
	}
	created := spec.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()

	entries, err := spec.entries(ctx)
	if err != nil {
		return nil, err
	}
	tarBytes, err := writeTar(entries, created)
	if err != nil {
		return nil, fmt.Errorf("registry: building layer: %w", err)
	}
	gz, err := gzipBytes(tarBytes)
	if err != nil {
		return nil, fmt.Errorf("registry: compressing layer: %w", err)
	}
	layerType := types.OCILayer
	if mt, err := base.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, fmt.Errorf("registry: building layer: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "twostage registry.Build", Comment: "reproducible layer"},
	})
	if err != nil {
		return nil, fmt.Errorf("registry: appending layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("registry: reading base image configuration: %w", err)
	}
	cf = cf.DeepCopy()
	if err := spec.configure(cf, created); err != nil {
		return nil, err
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("registry: writing image configuration: %w", err)
	}
	return img, nil
}

func (spec BuildSpec) configure(cf *v1.ConfigFile, created time.Time) error {
	want := v1.Platform{OS: "linux", Architecture: "amd64"}
	if spec.Platform != nil {
		want = *spec.Platform
	} else if cf.OS != "" {
		want = v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	}
	if cf.OS != "" && (cf.OS != want.OS || cf.Architecture != want.Architecture || cf.Variant != want.Variant) {
		return errInvalid("build platform %s differs from the base image's %s/%s; use a base for %s", want.String(), cf.OS, cf.Architecture, want.String())
	}
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = want.OS, want.Architecture, want.Variant, want.OSVersion
	cf.Created = v1.Time{Time: created}
	c := &cf.Config
	if len(spec.Entrypoint) > 0 {
		c.Entrypoint = slices.Clone(spec.Entrypoint)
		c.Cmd = nil
	}
	if len(spec.Cmd) > 0 {
		c.Cmd = slices.Clone(spec.Cmd)
	}
	for _, kv := range spec.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return errInvalid("build env entry %q must be KEY=VALUE", kv)
		}
		c.Env = slices.DeleteFunc(c.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		c.Env = append(c.Env, kv)
	}
	if spec.WorkingDir != "" {
		if !path.IsAbs(spec.WorkingDir) {
			return errInvalid("build working directory %q must be absolute", spec.WorkingDir)
		}
		c.WorkingDir = spec.WorkingDir
	}
	if len(spec.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range spec.Labels {
			c.Labels[k] = v
		}
	}
	return nil
}

// entry is one file of the layer.
type entry struct {
	name     string // in-image path without the leading '/'
	typ      byte   // tar.TypeReg, TypeDir or TypeSymlink
	exec     bool
	linkname string
	data     []byte
}

// entries collects the layer's files keyed by in-image path, adds every
// parent directory, and returns them sorted by path.
func (spec BuildSpec) entries(ctx context.Context) ([]entry, error) {
	byName := map[string]entry{}
	add := func(e entry, from string) error {
		if prev, ok := byName[e.name]; ok && !(prev.typ == tar.TypeDir && e.typ == tar.TypeDir) {
			return errInvalid("build: /%s is given twice (again by %s)", e.name, from)
		}
		byName[e.name] = e
		return nil
	}
	clean := func(p, what string) (string, error) {
		if !path.IsAbs(p) {
			return "", errInvalid("build: %s in-image path %q must be absolute", what, p)
		}
		c := strings.TrimPrefix(path.Clean(p), "/")
		if c == "" {
			return "", errInvalid("build: %s in-image path %q names the root directory", what, p)
		}
		return c, nil
	}
	if spec.Dir != "" {
		dest := spec.DirDest
		if dest == "" {
			dest = "/app"
		}
		if !path.IsAbs(dest) {
			return nil, errInvalid("build: DirDest %q must be absolute", dest)
		}
		destClean := strings.TrimPrefix(path.Clean(dest), "/")
		err := filepath.WalkDir(spec.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(spec.Dir, p)
			if err != nil {
				return err
			}
			name := path.Join(destClean, filepath.ToSlash(rel))
			if name == "" || name == "." {
				return nil // the root itself; parents are added below
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
				return add(entry{name: name, typ: tar.TypeDir}, p)
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return add(entry{name: name, typ: tar.TypeSymlink, linkname: filepath.ToSlash(target)}, p)
			case info.Mode().IsRegular():
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				return add(entry{name: name, typ: tar.TypeReg, exec: info.Mode()&0o111 != 0, data: data}, p)
			default:
				return errInvalid("build: %s is a %s, only regular files, directories and symbolic links are copied", p, info.Mode().Type())
			}
		})
		if err != nil {
			return nil, fmt.Errorf("registry: build: reading directory %s: %w", spec.Dir, err)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(spec.Files)) {
		name, err := clean(p, "file")
		if err != nil {
			return nil, err
		}
		if err := add(entry{name: name, typ: tar.TypeReg, data: spec.Files[p]}, "Files"); err != nil {
			return nil, err
		}
	}
	for _, host := range slices.Sorted(maps.Keys(spec.Binaries)) {
		name, err := clean(spec.Binaries[host], "binary")
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, fmt.Errorf("registry: build: reading binary: %w", err)
		}
		if err := add(entry{name: name, typ: tar.TypeReg, exec: true, data: data}, host); err != nil {
			return nil, err
		}
	}
	// Every parent directory gets an explicit entry, so that its mode and
	// time are ours rather than whatever an unpacker picks.
	for _, name := range slices.Collect(maps.Keys(byName)) {
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if e, ok := byName[dir]; ok {
				if e.typ != tar.TypeDir {
					return nil, errInvalid("build: /%s is a file but /%s needs it as a directory", dir, name)
				}
				continue
			}
			byName[dir] = entry{name: dir, typ: tar.TypeDir}
		}
	}
	out := make([]entry, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

func writeTar(entries []entry, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Linkname: e.linkname,
			ModTime:  created,
			Mode:     0o644,
			Format:   tar.FormatPAX,
		}
		switch e.typ {
		case tar.TypeDir:
			h.Name += "/"
			h.Mode = 0o755
		case tar.TypeSymlink:
			h.Mode = 0o777
		case tar.TypeReg:
			h.Size = int64(len(e.data))
			if e.exec {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing /%s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("writing /%s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses b with a header carrying no name, comment or time.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
