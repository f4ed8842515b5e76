package gittag_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/twostage/twostage/pipeline/gittag"
)

// A tag that is not signed is refused with the reason.
func ExampleVerifier_VerifyTag() {
	dir, err := os.MkdirTemp("", "gittag")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	env := []string{"GIT_CONFIG_GLOBAL=" + filepath.Join(dir, "none"), "GIT_CONFIG_NOSYSTEM=1"}
	for _, args := range [][]string{
		{"init", "-q"},
		{"-c", "user.email=a@example.com", "-c", "user.name=A", "commit", "-q", "--allow-empty", "-m", "one"},
		{"-c", "user.email=a@example.com", "-c", "user.name=A", "tag", "-a", "v1.0.0", "-m", "unsigned"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		if err := cmd.Run(); err != nil {
			fmt.Println("git is needed for this example:", err)
			return
		}
	}
	v := gittag.Verifier{Dir: dir, Env: env}
	err = v.VerifyTag(context.Background(), "v1.0.0")
	fmt.Println(errors.Is(err, gittag.ErrUnsigned))
	// Output: true
}
