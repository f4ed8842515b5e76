package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/twostage/twostage"
)

// verifyTag is the signed-tag rule as the CLI applies it: in a CI checkout,
// a tag that is there but lightweight is most likely a signed tag that
// actions/checkout fetched without its tag object (actions/checkout
// issues #290, #649, #882), so the refusal says exactly that and how to
// fetch it, instead of "unsigned".
func (a *app) verifyTag(ctx context.Context, tag string) error {
	v := a.verifier()
	if a.gh.Actions {
		cmd := exec.CommandContext(ctx, "git", "cat-file", "-t", "refs/tags/"+tag)
		cmd.Dir = v.Dir
		if out, err := cmd.Output(); err == nil && strings.TrimSpace(string(out)) == "commit" {
			return fmt.Errorf("tag %q is a lightweight tag in this checkout, so git has no signature to verify: actions/checkout fetches tags without their tag objects. Fetch the tag object before releasing: git fetch --force origin \"+refs/tags/%s:refs/tags/%s\" (the release.yml `twostage init` writes does); if the tag really is lightweight, sign it with `git tag -s`: %w", tag, tag, tag, twostage.ErrPolicy)
		}
	}
	return v.VerifyTag(ctx, tag)
}
