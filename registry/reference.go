package registry

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Reference is a parsed image reference "HOST/PATH[:TAG][@DIGEST]".
type Reference struct {
	// Repository is "HOST/PATH".
	Repository string
	// Tag is the tag, empty when absent.
	Tag string
	// Digest is "sha256:<hex>", empty when absent.
	Digest string
}

// String reassembles the reference in canonical form.
func (r Reference) String() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Host returns the registry host (with port, if any) of the repository.
func (r Reference) Host() string {
	host, _, _ := cutHost(r.Repository)
	return host
}

// ParseReference parses "HOST/PATH[:TAG][@sha256:HEX]". The host is
// required (no implicit Docker Hub): it must contain a dot or a port, or be
// "localhost". The path is one or more lower-case components separated by
// "/"; tags follow the OCI distribution grammar
// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. At least a tag or a digest is required.
// Errors wrap [twostage.ErrInvalid] and name the bad part.
func ParseReference(ref string) (Reference, error) {
	rest := ref
	var r Reference
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if err := validateDigest(r.Digest); err != nil {
			return Reference{}, errInvalid("reference %q: %v", ref, err)
		}
	}
	// A tag follows the last ':' after the last '/'; a ':' before it is a port.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if err := validateTag(r.Tag); err != nil {
			return Reference{}, errInvalid("reference %q: %v", ref, err)
		}
	}
	repo, err := parseRepository(rest)
	if err != nil {
		return Reference{}, errInvalid("reference %q: %v", ref, err)
	}
	r.Repository = repo
	if r.Tag == "" && r.Digest == "" {
		return Reference{}, errInvalid("reference %q has neither tag nor digest; append \":TAG\" or \"@sha256:…\"", ref)
	}
	return r, nil
}

// ParseRepository validates "HOST/PATH" and returns it unchanged.
// Errors wrap [twostage.ErrInvalid].
func ParseRepository(repo string) (string, error) {
	if _, err := parseRepository(repo); err != nil {
		return "", errInvalid("%v", err)
	}
	return repo, nil
}

func parseRepository(repo string) (string, error) {
	host, path, ok := cutHost(repo)
	if !ok || path == "" {
		return "", fmt.Errorf("repository %q: want HOST/PATH, for example \"europe-west1-docker.pkg.dev/PROJECT/REPO/IMAGE\"", repo)
	}
	if err := validateHost(host); err != nil {
		return "", fmt.Errorf("repository %q: %v", repo, err)
	}
	for _, c := range strings.Split(path, "/") {
		if !validPathComponent(c) {
			return "", fmt.Errorf("repository %q: path component %q must be lower-case letters and digits, separated by '.', '_', '__' or '-'", repo, c)
		}
	}
	return repo, nil
}

// cutHost splits "HOST/PATH"; an IPv6 host is bracketed ("[::1]:5000").
func cutHost(repo string) (host, path string, ok bool) {
	if strings.HasPrefix(repo, "[") {
		end := strings.Index(repo, "]")
		if end < 0 {
			return "", "", false
		}
		rest := repo[end+1:]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return "", "", false
		}
		return repo[:end+1] + rest[:i], rest[i+1:], true
	}
	return strings.Cut(repo, "/")
}

// ValidateDigest reports whether d is "sha256:" followed by 64 lower-case
// hex digits. Errors wrap [twostage.ErrInvalid].
func ValidateDigest(d string) error {
	if err := validateDigest(d); err != nil {
		return errInvalid("%v", err)
	}
	return nil
}

func validateDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok {
		return fmt.Errorf("digest %q must start with \"sha256:\"", d)
	}
	if len(hex) != 64 {
		return fmt.Errorf("digest %q must have 64 hex digits after \"sha256:\", has %d", d, len(hex))
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("digest %q has %q; only lower-case hex digits are allowed", d, string(c))
		}
	}
	return nil
}

func validateTag(t string) error {
	if t == "" || len(t) > 128 {
		return fmt.Errorf("tag %q must be 1 to 128 characters", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
		if !alnum && (i == 0 || (c != '.' && c != '-')) {
			return fmt.Errorf("tag %q: character %q at %d is not allowed (letters, digits, '_', and '.' or '-' after the first)", t, string(c), i)
		}
	}
	return nil
}

func validateHost(h string) error {
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return fmt.Errorf("host %q: unclosed '['", h)
		}
		addr, err := netip.ParseAddr(h[1:end])
		if err != nil || !addr.Is6() {
			return fmt.Errorf("host %q: %q is not an IPv6 address", h, h[1:end])
		}
		rest := h[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return fmt.Errorf("host %q: want [IPv6]:PORT", h)
			}
			return validatePort(h, p)
		}
		return nil
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort {
		if err := validatePort(h, port); err != nil {
			return err
		}
	}
	if name == "" {
		return errors.New("host is empty")
	}
	if !hasPort && !strings.Contains(name, ".") && name != "localhost" {
		return fmt.Errorf("host %q must contain a dot or a port (no implicit Docker Hub)", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q has an empty label or a label starting or ending with '-'", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("host %q: character %q is not allowed", h, string(c))
			}
		}
	}
	return nil
}

func validatePort(h, port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("host %q: port %q is not a number in 1..65535", h, port)
	}
	return nil
}

// validPathComponent implements the distribution grammar
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
func validPathComponent(c string) bool {
	if c == "" {
		return false
	}
	alnum := func(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }
	if !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 1; i < len(c); i++ {
		b := c[i]
		if alnum(b) {
			continue
		}
		switch b {
		case '.':
			if !alnum(c[i-1]) {
				return false
			}
		case '_':
			if c[i-1] == '_' && (i < 2 || !alnum(c[i-2])) {
				return false
			}
			if c[i-1] != '_' && !alnum(c[i-1]) {
				return false
			}
		case '-':
			if c[i-1] != '-' && !alnum(c[i-1]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
