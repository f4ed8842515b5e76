// Package config reads twostage.yaml, the declarative configuration of the
// twostage CLI, strictly: an unknown key, a value of the wrong type or a
// value that breaks a rule fails with the file, the line and the fix.
package config
