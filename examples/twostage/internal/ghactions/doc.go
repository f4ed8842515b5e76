// Package ghactions is the CLI's GitHub Actions integration: it reads the
// GITHUB_* environment to tell a push to the dev branch from a release tag,
// writes step outputs (GITHUB_OUTPUT) and the job summary
// (GITHUB_STEP_SUMMARY), and prints workflow commands (::group::,
// ::error::).
//
// The formats follow GitHub's "Workflow commands for GitHub Actions"
// documentation: multi-line outputs use the NAME<<DELIMITER form, and
// command data escapes '%', '\r' and '\n' (and ':' and ',' in properties).
package ghactions
