package gittag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline"
)

// Verifier verifies tags of the git repository in Dir. The zero value
// works in the current directory with "git" from PATH. A Verifier is safe
// for concurrent use.
type Verifier struct {
	// Dir is the repository's working directory. Default: the current
	// directory.
	Dir string
	// Git is the git program. Default "git".
	Git string
	// AllowedSigners, if set, is the SSH allowed-signers file that trusts
	// SSH signatures (passed as -c gpg.ssh.allowedSignersFile=FILE).
	// Default: the repository's own git configuration.
	AllowedSigners string
	// Env, if set, is added to the environment git runs with, for
	// example GNUPGHOME=… or GIT_CONFIG_GLOBAL=…. Default: the process's
	// environment unchanged.
	Env []string
}

var _ pipeline.TagVerifier = Verifier{}

// ErrUnsigned is wrapped by VerifyTag's error when the tag carries no
// signature at all (an unsigned annotated tag or a lightweight tag).
var ErrUnsigned = errors.New("tag is not signed")

// ErrBadSignature is wrapped by VerifyTag's error when the tag is signed
// but git does not accept the signature (unknown or untrusted key, or a
// tag modified after signing).
var ErrBadSignature = errors.New("tag signature is not valid or not trusted")

// VerifyTag runs `git verify-tag -- TAG` and returns nil when git accepts
// the signature. Otherwise the error wraps ErrUnsigned or ErrBadSignature
// (both also twostage.ErrPolicy) and quotes git's explanation; a tag that
// does not exist wraps twostage.ErrNotFound.
func (v Verifier) VerifyTag(ctx context.Context, tag string) error {
	if err := ValidateTagName(tag); err != nil {
		return err
	}
	if _, err := v.run(ctx, "rev-parse", "--verify", "--quiet", "refs/tags/"+tag); err != nil {
		return fmt.Errorf("gittag: verifying tag %q: no such tag in %s; fetch tags (actions/checkout with fetch-depth: 0, or git fetch --tags): %w", tag, v.dirName(), twostage.ErrNotFound)
	}
	args := []string{}
	if v.AllowedSigners != "" {
		args = append(args, "-c", "gpg.ssh.allowedSignersFile="+v.AllowedSigners)
	}
	args = append(args, "verify-tag", "--", tag)
	out, err := v.run(ctx, args...)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("gittag: verifying tag %q: %w", tag, ctx.Err())
	}
	msg := oneLine(out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("gittag: running %s verify-tag: %w", v.git(), err)
	}
	kind := ErrBadSignature
	lower := strings.ToLower(out)
	if strings.Contains(lower, "no signature found") || strings.Contains(lower, "cannot verify a non-tag object") {
		kind = ErrUnsigned
		msg += "; sign release tags with `git tag -s`"
	} else if strings.Contains(lower, "allowedsignersfile needs to be configured") {
		msg += "; set release.allowed-signers in twostage.yaml (or git config gpg.ssh.allowedSignersFile)"
	}
	return fmt.Errorf("gittag: tag %q: %w: %s: %w", tag, kind, msg, twostage.ErrPolicy)
}

// Commit returns the full SHA of the commit tag points at (peeling
// annotated tags), in lower case.
func (v Verifier) Commit(ctx context.Context, tag string) (string, error) {
	if err := ValidateTagName(tag); err != nil {
		return "", err
	}
	out, err := v.run(ctx, "rev-parse", "--verify", "--quiet", "refs/tags/"+tag+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("gittag: reading the commit of tag %q in %s: %s: %w", tag, v.dirName(), oneLine(out), twostage.ErrNotFound)
	}
	sha := strings.ToLower(strings.TrimSpace(out))
	if len(sha) != 40 && len(sha) != 64 {
		return "", fmt.Errorf("gittag: git printed %q for the commit of %q, not a SHA", sha, tag)
	}
	return sha, nil
}

// Tags returns the tags that point at commit sha, in git's order.
func (v Verifier) Tags(ctx context.Context, sha string) ([]string, error) {
	out, err := v.run(ctx, "tag", "--points-at", sha)
	if err != nil {
		return nil, fmt.Errorf("gittag: listing the tags of %s: %s: %w", sha, oneLine(out), err)
	}
	return strings.Fields(out), nil
}

func (v Verifier) git() string {
	if v.Git == "" {
		return "git"
	}
	return v.Git
}

func (v Verifier) dirName() string {
	if v.Dir == "" {
		return "the current directory"
	}
	return v.Dir
}

// run runs git with args in Dir and returns its combined output.
func (v Verifier) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, v.git(), args...)
	cmd.Dir = v.Dir
	if len(v.Env) > 0 {
		cmd.Env = append(os.Environ(), v.Env...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	s = strings.Join(lines, " | ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// ValidateTagName checks that tag is a name git accepts for a tag
// (git-check-ref-format's rules) and cannot be mistaken for an option.
// Errors wrap twostage.ErrInvalid.
func ValidateTagName(tag string) error {
	bad := func(why string) error {
		return fmt.Errorf("gittag: tag name %q %s: %w", tag, why, twostage.ErrInvalid)
	}
	switch {
	case tag == "":
		return bad("is empty")
	case len(tag) > 255:
		return bad("is longer than 255 bytes")
	case strings.HasPrefix(tag, "-"):
		return bad("starts with '-'")
	case strings.HasPrefix(tag, "refs/"):
		return bad("includes refs/; pass the short name such as v1.4.2")
	case tag == "@", strings.Contains(tag, "@{"):
		return bad("is or contains '@{'")
	case strings.Contains(tag, ".."), strings.Contains(tag, "//"):
		return bad("contains '..' or '//'")
	case strings.HasSuffix(tag, "."), strings.HasSuffix(tag, "/"), strings.HasPrefix(tag, "/"):
		return bad("begins or ends with '/' or ends with '.'")
	}
	for _, part := range strings.Split(tag, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return bad("has a component starting with '.' or ending with .lock")
		}
	}
	for _, r := range tag {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	return nil
}
