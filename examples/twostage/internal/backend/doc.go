// Package backend is the CLI's backend factory: from twostage.yaml and the
// environment it builds the registry and the two services the pipeline
// runs on, against Google Cloud (Application Default Credentials, or keyless
// GitHub OIDC through package wif) or against the local emulator named by
// TWOSTAGE_EMULATOR_HOST. Only the CLI imports it, so the libraries never
// depend on every backend.
package backend
