package workflows

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// Action is a pinned action.
type Action struct {
	// Repo is "owner/name", or "owner/name/path" for an action in a
	// sub-directory.
	Repo string
	// SHA is the full 40-hex commit the version tag pointed at.
	SHA string
	// Version is the tag (or branch), for the comment.
	Version string
}

// Uses renders the `uses:` value with its version comment.
func (a Action) Uses() string { return fmt.Sprintf("%s@%s # %s", a.Repo, a.SHA, a.Version) }

// Pinned third-party actions. The SHAs are those the version tags name on
// GitHub, as quoted in many public workflows (not re-checked against
// GitHub from here: this package is built offline). Dependabot keeps them
// current.
func checkout() Action {
	return Action{Repo: "actions/checkout", SHA: "11bd71901bbe5b1630ceea73d27597364c9af683", Version: "v4.2.2"}
}

func setupGo() Action {
	return Action{Repo: "actions/setup-go", SHA: "d35c59abb061a4a6fb18e82ac0862c26744d6ab5", Version: "v5.5.0"}
}

func setupBuildx() Action {
	return Action{Repo: "docker/setup-buildx-action", SHA: "e468171a9de216ec08956ac3ada2f0791b6bd435", Version: "v3.11.1"}
}

func buildPush() Action {
	return Action{Repo: "docker/build-push-action", SHA: "263435318d21b8e681c14492fe198d362a7d2c83", Version: "v6.18.0"}
}

// Actions returns the pinned third-party actions the workflows and the
// twostage action use.
func Actions() []Action { return []Action{checkout(), setupGo(), setupBuildx(), buildPush()} }

// ActionRepo is where the twostage action lives: the action.yml in
// examples/twostage of this module's repository.
const ActionRepo = "twostage/twostage/examples/twostage"

// Build is how the dev workflow makes the commit's image.
type Build string

// Build kinds.
const (
	// BuildDocker builds the repository's Dockerfile with buildx and pushes
	// IMAGE:<sha> after a keyless registry login; `twostage dev` adopts it.
	BuildDocker Build = "docker"
	// BuildGo compiles a static Go binary into dist/ and packs it without
	// Docker (`twostage dev --image-dir dist --entrypoint /app/server`).
	BuildGo Build = "go"
	// BuildStatic packs the files of dist/ without Docker.
	BuildStatic Build = "static"
)

// Builds are the build kinds, in the order of the default's choice.
func Builds() []Build { return []Build{BuildDocker, BuildGo, BuildStatic} }

// Params fill the templates.
type Params struct {
	Project, Region         string
	Repository, Image       string
	DevService, ProdService string
	Branch                  string
	// TagGlob is the tag filter of release.yml, such as "v*".
	TagGlob string
	// Build is how dev.yml builds the image. Default BuildStatic.
	Build Build
	// ImageDir is the directory --image-dir packs (go and static).
	// Default "dist".
	ImageDir string
	// CLI pins the twostage action: Repo defaults to ActionRepo; SHA is
	// required (a full commit of the twostage repository).
	CLI Action
	// Play writes a configuration for local play: a threshold gate over
	// the scripted traffic file traffic.json (written too, every revision
	// healthy) instead of Cloud Monitoring.
	Play bool
	// ProdEnvironment is the GitHub Environment of the person-driven
	// promote job (protect it with required reviewers). Default
	// "production".
	ProdEnvironment string
	// ResumeEnvironment is the GitHub Environment of the job that resumes
	// rollouts a person started (no reviewers; deployment branch: Branch
	// only). Default ProdEnvironment + "-resume".
	ResumeEnvironment string
}

var sha40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Files returns the generated files by path, relative to the repository.
func Files(p Params) (map[string][]byte, error) {
	if p.CLI.Repo == "" {
		p.CLI.Repo = ActionRepo
	}
	if p.CLI.Version == "" {
		p.CLI.Version = "main"
	}
	for _, a := range append(Actions(), p.CLI) {
		if !sha40.MatchString(a.SHA) {
			return nil, fmt.Errorf("workflows: action %s is pinned to %q, not a full 40-hex commit SHA", a.Repo, a.SHA)
		}
	}
	if p.Build == "" {
		p.Build = BuildStatic
	}
	if !slices.Contains(Builds(), p.Build) {
		return nil, fmt.Errorf("workflows: build %q is not docker, go or static", p.Build)
	}
	if p.ImageDir == "" {
		p.ImageDir = "dist"
	}
	if p.TagGlob == "" {
		p.TagGlob = "v*"
	}
	if p.ProdEnvironment == "" {
		p.ProdEnvironment = "production"
	}
	if p.ResumeEnvironment == "" {
		p.ResumeEnvironment = p.ProdEnvironment + "-resume"
	}
	data := map[string]any{
		"P": p, "Checkout": checkout().Uses(), "SetupGo": setupGo().Uses(),
		"Buildx": setupBuildx().Uses(), "BuildPush": buildPush().Uses(), "CLI": p.CLI.Uses(),
	}
	out := map[string][]byte{}
	for name, tmpl := range map[string]string{
		"twostage.yaml":                 configTmpl,
		".github/workflows/dev.yml":     devTmpl,
		".github/workflows/release.yml": releaseTmpl,
		".github/workflows/promote.yml": promoteTmpl,
	} {
		t, err := template.New(name).Delims("[[", "]]").Parse(tmpl)
		if err != nil {
			return nil, fmt.Errorf("workflows: template %s: %w", name, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("workflows: rendering %s: %w", name, err)
		}
		out[name] = []byte(strings.TrimLeft(b.String(), "\n"))
	}
	if p.Play {
		out[PlayTraffic] = []byte(playTraffic)
	}
	return out, nil
}

// PlayTraffic is the scripted traffic file of local play.
const PlayTraffic = "traffic.json"

// playTraffic is every revision healthy: 20 requests/s, 0.1% errors.
const playTraffic = `{"revisions": {
  "*": {"rps": 20, "error-rate": 0.001}
}}
`

const configTmpl = `
# twostage.yaml — build once, promote by traffic.
# Reference: examples/twostage/README.md. Unknown keys are errors.
project: [[.P.Project]]
# project-number: "123456789012"   # needed by ` + "`twostage wif`" + `
region: [[.P.Region]]
registry:
  repository: [[.P.Repository]]   # Artifact Registry repository ID (DOCKER format)
  image: [[.P.Image]]
services:
  dev: [[.P.DevService]]
  prod: [[.P.ProdService]]
  # runtime-service-account: [[.P.ProdService]]-runtime@[[.P.Project]].iam.gserviceaccount.com
branch: [[.P.Branch]]
release:
  # tag-pattern defaults to semver with a v prefix (pipeline.SemverTag):
  # v1.4.2, v2.0.0-rc.1, v1.0.0+build.5
  signed-tags: false
  # allowed-signers: .github/allowed_signers   # SSH signatures
rollout:
  steps:
    - percent: 5
      bake: 5m
      max-wait: 30m
    - percent: 25
      bake: 5m
      max-wait: 30m
    - percent: 100
[[- if .P.Play]]
  # Local play: the gate reads scripted traffic (README: scripted traffic);
  # edit traffic.json to make a release bad.
  gates:
    - type: threshold
      max-error-rate: 0.01
      min-requests: 100
  metrics:
    source: file
    file: traffic.json
[[- else]]
  # gates:
  #   - type: threshold
  #     max-error-rate: 0.01
  #     min-requests: 100
  # metrics:
  #   source: cloud-monitoring
[[- end]]
wif:
  pool: github
  provider: github-actions
  # repository: OWNER/NAME
  # repository-id: "123"   # gh api repos/OWNER/NAME --jq .id
  # owner-id: "456"        # gh api repos/OWNER/NAME --jq .owner.id
  # promote.yml runs from [[.P.Branch]] in this GitHub Environment; protect it
  # (deployment branches: [[.P.Branch]] only, required reviewers).
  prod-environment: [[.P.ProdEnvironment]]
# audit:
#   log: twostage-audit.jsonl
`

const devTmpl = `
# Generated by twostage init (build: [[.P.Build]]): every push to [[.P.Branch]]
# builds the image once and deploys it to [[.P.DevService]] with all traffic.
name: dev
on:
  push:
    branches: [[ printf "[%q]" .P.Branch ]]
permissions:
  id-token: write
  contents: read
jobs:
  deploy:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    # One dev deploy at a time. A push that arrives while one runs waits; a
    # newer push replaces a waiting one (dev then runs the newer commit).
    # To release a replaced commit, re-run its dev run.
    concurrency:
      group: twostage-[[.P.DevService]]
      cancel-in-progress: false
    steps:
      - uses: [[.Checkout]]
[[- if eq .P.Build "docker"]]
      - uses: [[.Buildx]]
      - name: Log in to Artifact Registry (keyless)
        id: login
        uses: [[.CLI]]
        with:
          command: registry-login
      - name: Build and push the commit's image
        uses: [[.BuildPush]]
        with:
          context: .
          push: true
          provenance: false
          platforms: linux/amd64
          tags: ${{ steps.login.outputs.image }}:${{ github.sha }}
      - name: Deploy to dev
        id: deploy
        uses: [[.CLI]]
        with:
          command: dev
[[- else if eq .P.Build "go"]]
      - uses: [[.SetupGo]]
        with:
          go-version-file: go.mod
      - name: Build
        # Replace with your build; twostage packs [[.P.ImageDir]]/ into the image under /app.
        run: CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -o [[.P.ImageDir]]/server .
      - name: Deploy to dev
        id: deploy
        uses: [[.CLI]]
        with:
          command: dev
          args: |
            --image-dir=[[.P.ImageDir]]
            --entrypoint=/app/server
[[- else]]
      - name: Deploy to dev
        id: deploy
        uses: [[.CLI]]
        with:
          command: dev
          args: --image-dir=[[.P.ImageDir]]
[[- end]]
      - name: Dev URL
        env:
          REVISION: ${{ steps.deploy.outputs.revision }}
          URL: ${{ steps.deploy.outputs.url }}
        run: echo "dev revision $REVISION at $URL"
`

const releaseTmpl = `
# Generated by twostage init: a release tag deploys the image dev ran for
# the tagged commit to [[.P.ProdService]] with no traffic (tag "candidate").
# Promotion is promote.yml.
name: release
on:
  push:
    tags: [[ printf "[%q]" .P.TagGlob ]]
permissions:
  id-token: write
  contents: read
jobs:
  release:
    runs-on: ubuntu-latest
    timeout-minutes: 45
    # A release is never cancelled: its group is its own tag, so no other
    # run can replace it. Writes to the prod service are serialised by the
    # service's etag and the rollout state recorded on it.
    concurrency:
      group: twostage-[[.P.ProdService]]-release-${{ github.ref_name }}
      cancel-in-progress: false
    steps:
      - uses: [[.Checkout]]
        with:
          fetch-depth: 0
      - name: Fetch the tag object
        # actions/checkout leaves an annotated (signed) tag lightweight;
        # git verify-tag needs the tag object itself.
        env:
          TAG: ${{ github.ref_name }}
        run: git fetch --force origin "+refs/tags/$TAG:refs/tags/$TAG"
      - name: Release with no traffic
        id: release
        uses: [[.CLI]]
        with:
          command: release
      - name: Preview
        env:
          REVISION: ${{ steps.release.outputs.revision }}
          PREVIEW: ${{ steps.release.outputs.preview_url }}
        run: echo "candidate $REVISION at $PREVIEW"
`

const promoteTmpl = `
# Generated by twostage init: rolls the released candidate out in
# [[.P.ProdService]] step by step behind the gates, rolling back on a breach.
# A person decides in the protected environment [[.P.ProdEnvironment]]
# (Actions → promote → Run workflow): start the gated rollout, next or full
# (skipping the gates), or roll back. The rollout itself is driven by the
# resume job, after a decision and every 30 minutes, in [[.P.ResumeEnvironment]]
# (no reviewers): it only continues a rollout a person started.
name: promote
on:
  workflow_dispatch:
    inputs:
      action:
        description: promote (start the gated rollout), next or full (by hand, skips the gates), rollback
        type: choice
        options: [promote, next, full, rollback]
        default: promote
      revision:
        description: revision to promote (default the candidate)
        type: string
        required: false
  schedule:
    - cron: "*/30 * * * *"
permissions:
  id-token: write
  contents: read
jobs:
  decide:
    if: github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    timeout-minutes: 15
    environment: [[.P.ProdEnvironment]]
    # A person's decision is never replaced by another run: its group is
    # its own run. It is one conditional write to the prod service.
    concurrency:
      group: twostage-[[.P.ProdService]]-decide-${{ github.run_id }}
      cancel-in-progress: false
    steps:
      - uses: [[.Checkout]]
      - name: Start the rollout
        if: inputs.action == 'promote'
        uses: [[.CLI]]
        with:
          command: promote
          args: |
            --start
            --revision=${{ inputs.revision }}
      - name: Promote by hand
        if: inputs.action == 'next' || inputs.action == 'full'
        uses: [[.CLI]]
        with:
          command: promote
          args: --manual=${{ inputs.action }}
      - name: Roll back
        if: inputs.action == 'rollback'
        uses: [[.CLI]]
        with:
          command: rollback
          args: --reason=rolled back by ${{ github.actor }} from the promote workflow
  resume:
    needs: decide
    if: ${{ !cancelled() && (github.event_name == 'schedule' || needs.decide.result == 'success' && inputs.action != 'rollback') }}
    runs-on: ubuntu-latest
    timeout-minutes: 180
    environment: [[.P.ResumeEnvironment]]
    # One driver at a time. A waiting resume replaced by a newer one loses
    # nothing: both continue the same recorded rollout.
    concurrency:
      group: twostage-[[.P.ProdService]]-resume
      cancel-in-progress: false
    steps:
      - uses: [[.Checkout]]
      - name: Resume the rollout
        uses: [[.CLI]]
        with:
          command: promote
          args: --resume
`
