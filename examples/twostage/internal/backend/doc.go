// Package backend is the CLI's backend factory: from twostage.yaml and the
// environment it builds the registry and the two services the pipeline
// runs on, and the client options of Cloud Monitoring for the gates,
// against Google Cloud (Application Default Credentials, or keyless GitHub
// OIDC through package wif) or against the local emulator named by
// TWOSTAGE_EMULATOR_HOST, whose discovery also names its STS and IAM
// Credentials for keyless auth in tests. Only the CLI imports it, so the
// libraries never depend on every backend.
package backend
