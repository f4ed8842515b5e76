package gittag_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/pipeline/gittag"
)

// repo is a temporary git repository with an SSH signing key.
type repo struct {
	dir, signers string
	env          []string
}

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"git", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed (%v); the signed-tag tests need git and ssh-keygen", tool, err)
		}
	}
}

func (r *repo) git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), r.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func keygen(t *testing.T, dir, name string) (key, pub string) {
	t.Helper()
	key = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(b))
}

// newRepo makes a repository with one commit, an SSH key trusted in the
// allowed-signers file, and a second key that is not trusted.
func newRepo(t *testing.T) (*repo, string, string) {
	t.Helper()
	needTools(t)
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	dir := filepath.Join(tmp, "repo")
	for _, d := range []string{home, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gitconfig := filepath.Join(home, "gitconfig")
	if err := os.WriteFile(gitconfig, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := &repo{dir: dir, env: []string{"HOME=" + home, "GIT_CONFIG_GLOBAL=" + gitconfig, "GIT_CONFIG_NOSYSTEM=1"}}
	trusted, trustedPub := keygen(t, tmp, "trusted")
	untrusted, _ := keygen(t, tmp, "untrusted")
	r.signers = filepath.Join(tmp, "allowed_signers")
	if err := os.WriteFile(r.signers, []byte("release@example.com "+trustedPub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git(t, "init", "-q", "-b", "main")
	r.git(t, "config", "user.email", "release@example.com")
	r.git(t, "config", "user.name", "Release")
	r.git(t, "config", "gpg.format", "ssh")
	r.git(t, "config", "user.signingkey", trusted+".pub")
	r.git(t, "config", "gpg.ssh.allowedSignersFile", r.signers)
	r.git(t, "commit", "-q", "--allow-empty", "-m", "first")
	return r, trusted, untrusted
}

func TestVerifyTag(t *testing.T) {
	t.Parallel()
	r, _, untrusted := newRepo(t)
	r.git(t, "tag", "-s", "v1.4.2", "-m", "signed release")
	r.git(t, "tag", "-a", "v1.4.3", "-m", "unsigned release")
	r.git(t, "tag", "v1.4.4")
	r.git(t, "-c", "user.signingkey="+untrusted+".pub", "tag", "-s", "v1.4.5", "-m", "signed by a stranger")
	v := gittag.Verifier{Dir: r.dir, Env: r.env}

	tests := []struct {
		tag      string
		wantErr  error // nil: accepted
		wantText string
	}{
		{tag: "v1.4.2"},
		{tag: "v1.4.3", wantErr: gittag.ErrUnsigned, wantText: "git tag -s"},
		{tag: "v1.4.4", wantErr: gittag.ErrUnsigned, wantText: "non-tag object"},
		{tag: "v1.4.5", wantErr: gittag.ErrBadSignature, wantText: "v1.4.5"},
		{tag: "v9.9.9", wantErr: twostage.ErrNotFound, wantText: "fetch tags"},
		{tag: "--help", wantErr: twostage.ErrInvalid, wantText: "starts with '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			t.Parallel()
			err := v.VerifyTag(context.Background(), tt.tag)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyTag(%q) = %v, want nil", tt.tag, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("VerifyTag(%q) = %v, want an error wrapping %v containing %q", tt.tag, err, tt.wantErr, tt.wantText)
			}
			if (tt.wantErr == gittag.ErrUnsigned || tt.wantErr == gittag.ErrBadSignature) && !errors.Is(err, twostage.ErrPolicy) {
				t.Errorf("VerifyTag(%q) = %v, want it to wrap twostage.ErrPolicy too", tt.tag, err)
			}
		})
	}
}

func TestVerifyTagAllowedSignersField(t *testing.T) {
	t.Parallel()
	r, _, _ := newRepo(t)
	r.git(t, "tag", "-s", "v2.0.0", "-m", "signed")
	r.git(t, "config", "--unset", "gpg.ssh.allowedSignersFile")
	v := gittag.Verifier{Dir: r.dir, Env: r.env}
	if err := v.VerifyTag(context.Background(), "v2.0.0"); !errors.Is(err, gittag.ErrBadSignature) || !strings.Contains(err.Error(), "allowed-signers") {
		t.Errorf("VerifyTag without allowed signers = %v, want ErrBadSignature naming release.allowed-signers", err)
	}
	v.AllowedSigners = r.signers
	if err := v.VerifyTag(context.Background(), "v2.0.0"); err != nil {
		t.Errorf("VerifyTag with AllowedSigners = %v, want nil", err)
	}
}

func TestCommitAndTags(t *testing.T) {
	t.Parallel()
	r, _, _ := newRepo(t)
	r.git(t, "tag", "-a", "v1.0.0", "-m", "annotated")
	r.git(t, "tag", "light")
	head := r.git(t, "rev-parse", "HEAD")
	v := gittag.Verifier{Dir: r.dir, Env: r.env}
	for _, tag := range []string{"v1.0.0", "light"} {
		got, err := v.Commit(context.Background(), tag)
		if err != nil || got != head {
			t.Errorf("Commit(%q) = %q, %v; want %q", tag, got, err, head)
		}
	}
	if _, err := v.Commit(context.Background(), "nope"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Commit(nope) = %v, want ErrNotFound", err)
	}
	tags, err := v.Tags(context.Background(), head)
	if err != nil || strings.Join(tags, ",") != "light,v1.0.0" {
		t.Errorf("Tags = %v, %v; want [light v1.0.0]", tags, err)
	}
}

func TestValidateTagName(t *testing.T) {
	t.Parallel()
	for _, tag := range []string{"v1.4.2", "v1.4.2-rc.1+build.5", "release/v1", "x"} {
		if err := gittag.ValidateTagName(tag); err != nil {
			t.Errorf("ValidateTagName(%q) = %v, want nil", tag, err)
		}
	}
	for _, tag := range []string{"", "-x", "refs/tags/v1", "a..b", "a b", "a~1", "a^", "v1.", "a/.b", "x.lock", "@", "a@{1}", "/a", "a/", "a//b", "a\x00b"} {
		if err := gittag.ValidateTagName(tag); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("ValidateTagName(%q) = %v, want ErrInvalid", tag, err)
		}
	}
}

// FuzzValidateTagName checks that every accepted name is one git accepts
// too (when git is installed) and that nothing accepted looks like an
// option.
func FuzzValidateTagName(f *testing.F) {
	for _, s := range []string{"v1.4.2", "-x", "a..b", "release/v1", "x.lock", "a@{1}"} {
		f.Add(s)
	}
	git, _ := exec.LookPath("git")
	f.Fuzz(func(t *testing.T, tag string) {
		if gittag.ValidateTagName(tag) != nil {
			return
		}
		if strings.HasPrefix(tag, "-") || strings.Contains(tag, "..") {
			t.Fatalf("ValidateTagName accepted %q", tag)
		}
		if git != "" && len(tag) < 64 {
			if out, err := exec.Command(git, "check-ref-format", "refs/tags/"+tag).CombinedOutput(); err != nil {
				t.Fatalf("ValidateTagName accepted %q, git check-ref-format refuses it: %s", tag, out)
			}
		}
	})
}
