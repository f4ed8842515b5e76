// Package gittag verifies release tags with git: [Verifier] implements
// pipeline.TagVerifier with `git verify-tag`, which checks GPG, SSH and
// X.509 (gpgsm) signatures with whatever trust configuration the repository
// has (gpg.format, gpg.ssh.allowedSignersFile, the GnuPG keyring), and
// [Verifier.Commit] reads the commit a tag points at.
//
// The package runs the git program; it reads no environment of its own.
package gittag
