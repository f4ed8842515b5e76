package registry

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/twostage/twostage"
)

// FromTarball reads an image from a "docker save" (or "crane pull",
// "ko build --tarball") tarball at path, without a Docker daemon. tag
// selects the image when the tarball holds several, for example
// "api:latest"; "" selects the only one. Layers are read from the file on
// demand, so the file must stay in place while the image is used.
//
// A docker-save tarball keeps an image's configuration and layers but not
// its manifest, which is rebuilt with Docker media types: the digest of
// the result is the one a registry reports after the push (the one to
// deploy), not necessarily the digest the image had before it was saved.
func FromTarball(path, tag string) (v1.Image, error) {
	var t *name.Tag
	if tag != "" {
		nt, err := name.NewTag(tag)
		if err != nil {
			return nil, errInvalid("reading image tarball %s: tag %q: %v", path, tag, err)
		}
		t = &nt
	}
	img, err := tarball.ImageFromPath(path, t)
	if err != nil {
		return nil, fmt.Errorf("registry: reading image tarball %s: %w", path, err)
	}
	// Reading the manifest surfaces a missing tag or a corrupt file now
	// rather than at push time.
	if _, err := img.Manifest(); err != nil {
		return nil, fmt.Errorf("registry: reading image tarball %s (tag %q): %w", path, tag, err)
	}
	return img, nil
}

// FromLayout reads an image from an OCI image layout directory (as written
// by "crane pull --format=oci", buildah, or ggcr's layout package), without
// a Docker daemon.
//
// digest, "sha256:…", selects a manifest listed in the layout's index.json;
// "" selects the only one. When the selected manifest is an image index,
// its linux/amd64 image is returned, the platform Cloud Run runs. Errors
// naming an ambiguous or missing selection wrap [twostage.ErrInvalid] or
// [twostage.ErrNotFound] and list what the layout holds.
func FromLayout(dir, digest string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("registry: opening OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("registry: reading OCI layout %s: %w", dir, err)
	}
	return imageFromIndex(idx, dir, digest)
}

func imageFromIndex(idx v1.ImageIndex, dir, digest string) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("registry: reading OCI layout %s: %w", dir, err)
	}
	if digest != "" {
		if err := ValidateDigest(digest); err != nil {
			return nil, fmt.Errorf("registry: selecting from OCI layout %s: %w", dir, err)
		}
	}
	var have []string
	var pick *v1.Descriptor
	for i, d := range m.Manifests {
		have = append(have, d.Digest.String())
		if digest == "" || d.Digest.String() == digest {
			pick = &m.Manifests[i]
		}
	}
	switch {
	case len(have) == 0:
		return nil, fmt.Errorf("registry: OCI layout %s holds no manifest: %w", dir, twostage.ErrNotFound)
	case digest == "" && len(have) > 1:
		return nil, errInvalid("OCI layout %s holds %d manifests (%s); pass the digest of one", dir, len(have), strings.Join(have, ", "))
	case pick == nil:
		return nil, fmt.Errorf("registry: OCI layout %s has no manifest %s (it has %s): %w", dir, digest, strings.Join(have, ", "), twostage.ErrNotFound)
	}
	if pick.MediaType.IsIndex() {
		child, err := idx.ImageIndex(pick.Digest)
		if err != nil {
			return nil, fmt.Errorf("registry: reading index %s in OCI layout %s: %w", pick.Digest, dir, err)
		}
		return platformImage(child, dir)
	}
	if !pick.MediaType.IsImage() {
		return nil, errInvalid("manifest %s in OCI layout %s has media type %q, not an image", pick.Digest, dir, pick.MediaType)
	}
	img, err := idx.Image(pick.Digest)
	if err != nil {
		return nil, fmt.Errorf("registry: reading image %s in OCI layout %s: %w", pick.Digest, dir, err)
	}
	return img, nil
}

func platformImage(idx v1.ImageIndex, dir string) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("registry: reading nested index in OCI layout %s: %w", dir, err)
	}
	var found []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			found = append(found, "unknown")
			continue
		}
		if d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" && d.MediaType.IsImage() {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("registry: reading linux/amd64 image %s in OCI layout %s: %w", d.Digest, dir, err)
			}
			return img, nil
		}
		found = append(found, d.Platform.String())
	}
	return nil, errInvalid("image index in OCI layout %s has no linux/amd64 image, which Cloud Run requires (platforms: %s)", dir, strings.Join(found, ", "))
}
