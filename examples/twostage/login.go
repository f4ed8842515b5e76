package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/twostage/twostage/examples/twostage/internal/ghactions"
)

// loginResult is what registry-login did.
type loginResult struct {
	// Registry is the registry host; Image the repository to push
	// IMAGE:<sha> to.
	Registry string `json:"registry"`
	Image    string `json:"image"`
	// Config is the Docker configuration file written, if any.
	Config string `json:"config,omitempty"`
	// Note explains a login that was not needed.
	Note  string `json:"note,omitempty"`
	token string
}

func (r loginResult) Text() string {
	if r.token != "" {
		return r.token + "\n"
	}
	s := fmt.Sprintf("push the commit's image as %s:<full commit SHA>\n", r.Image)
	if r.Config != "" {
		s = fmt.Sprintf("logged in to %s (credentials in %s)\n", r.Registry, r.Config) + s
	}
	if r.Note != "" {
		s = r.Note + "\n" + s
	}
	return s
}

// cmdRegistryLogin logs Docker in to the configured repository's registry
// with a short-lived access token — the keyless one in GitHub Actions — by
// writing the registry's entry into Docker's config.json (what `docker
// login` does without a credential helper), so buildx and
// docker/build-push-action can push IMAGE:<sha>. With --print-token it
// prints the token instead, for `docker login -u oauth2accesstoken
// --password-stdin HOST`.
func (a *app) cmdRegistryLogin(ctx context.Context, args []string) (any, error) {
	fs := a.flags("registry-login")
	printToken := fs.Bool("print-token", false, "print the access token on stdout instead of writing Docker's config (pipe it to docker login -u oauth2accesstoken --password-stdin HOST)")
	if err := a.parse(fs, args); err != nil {
		return nil, err
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	image := a.backend.Repository
	host, _, _ := strings.Cut(image, "/")
	out := loginResult{Registry: host, Image: image}
	a.output("image", image)
	a.output("registry", host)
	ts := a.tokenSource
	switch {
	case ts == nil && a.backend.Emulated:
		out.Note = "the emulator's registry takes pushes without a login"
		if *printToken {
			return nil, usagef("--print-token: the emulator's registry needs no token")
		}
		return out, nil
	case ts == nil:
		var err error
		if ts, err = google.DefaultTokenSource(ctx, "https://www.googleapis.com/auth/cloud-platform"); err != nil {
			return nil, fmt.Errorf("registry-login: no credentials (in GitHub Actions, grant the job id-token: write; locally, gcloud auth application-default login): %w", err)
		}
	}
	tok, err := ts.Token()
	if err != nil {
		return nil, fmt.Errorf("registry-login: getting an access token: %w", err)
	}
	if a.gh.Actions {
		// Never let the token reach the log.
		ghactions.Mask(a.stderr, tok.AccessToken)
	}
	if *printToken {
		out.token = tok.AccessToken
		return out, nil
	}
	if out.Config, err = writeDockerAuth(a.env, host, tok); err != nil {
		return nil, fmt.Errorf("registry-login: %w", err)
	}
	return out, nil
}

// writeDockerAuth puts host's credentials into Docker's config.json
// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), keeping the
// rest of the file, and returns its name.
func writeDockerAuth(env func(string) string, host string, tok *oauth2.Token) (string, error) {
	dir := env("DOCKER_CONFIG")
	if dir == "" {
		home := env("HOME")
		if home == "" {
			return "", fmt.Errorf("neither DOCKER_CONFIG nor HOME is set, so Docker's config.json cannot be found")
		}
		dir = filepath.Join(home, ".docker")
	}
	name := filepath.Join(dir, "config.json")
	cfg := map[string]any{}
	if data, err := os.ReadFile(name); err == nil {
		if err := json.Unmarshal(data, &cfg); err != nil {
			return "", fmt.Errorf("reading %s: %w", name, err)
		}
	} else if !os.IsNotExist(err) {
		return "", err
	}
	auths, _ := cfg["auths"].(map[string]any)
	if auths == nil {
		auths = map[string]any{}
	}
	auths[host] = map[string]any{"auth": base64.StdEncoding.EncodeToString([]byte("oauth2accesstoken:" + tok.AccessToken))}
	cfg["auths"] = auths
	data, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		return "", err
	}
	return name, nil
}
