// Package workflows generates what `twostage init` writes: twostage.yaml
// and the GitHub Actions workflows dev.yml (push to the dev branch),
// release.yml (release tags) and promote.yml (run by hand or on a
// schedule). The workflows request only `id-token: write` and
// `contents: read`, pin every action by full commit SHA with the version in
// a comment, and share one concurrency group per service so two deploys of
// one service never race.
package workflows
