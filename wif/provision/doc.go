// Package provision declares the keyless deployment identity of a project
// in Go and applies it like code: a workload identity pool, its GitHub
// provider and the IAM role bindings its principals get.
//
// A [Setup] (with secure defaults from [GitHubSetup]) is compared with
// what exists by [Manager.Plan], shown as a readable [Diff], and applied
// idempotently by [Manager.Apply] (IAM read-modify-write with etags and
// policy version 3, retried on conflict, touching only the bindings it
// manages). [Simulate] runs sample GitHub tokens through it before anything
// is applied, [Lint] flags insecure patterns with stable rule IDs, and
// [RenderGcloud] and [RenderTerraform] print the same setup for teams that
// apply elsewhere.
//
// # The identity model of GitHubSetup
//
// [GitHubSetup] maps every token to one pipeline step, attribute.stage,
// from the exact event that performs it, and binds each step's roles to
// principalSet://…/attribute.stage/STEP:
//
//	dev      push to the dev branch                    AR writer, run.developer on dev
//	release  push of a tag matching the release pattern AR reader, run.developer on prod
//	promote  workflow_dispatch or schedule on the dev   run.developer on prod
//	         branch, in the prod environment
//	none     anything else (refused by the condition)
//
// (each step also holds iam.serviceAccountUser on the runtime service
// account only). Jobs on self-hosted runners and jobs running another
// repository's reusable workflow map to none unless allowed. The
// condition pins the numeric repository and owner IDs. [Lint] plays the
// adversarial claim sets of [GitHubProbes] (fork pull requests,
// pull_request_target, workflow_run, issue_comment, other and recreated
// repositories, look-alike IDs, non-release tags, environment jobs on
// feature branches, self-hosted runners, foreign reusable workflows)
// against any setup and reports each that gets a binding (rule WIF008).
// What the model assumes of GitHub (branch protection, a tag ruleset, the
// environment's branch rule) is in [Setup.Assumptions].
//
// [Evaluate] applies a provider's attribute mapping and condition to token
// claims with CEL, the way the Security Token Service (STS) does, so a
// provider can be tested against example tokens before it is deployed. An
// [Evaluator] caches the compiled expressions for repeated use.
//
// The token source a deploying job uses is in the parent package,
// [github.com/twostage/twostage/wif], which does not import this one: a
// job that only exchanges tokens links neither cel-go nor the IAM and
// Resource Manager clients.
//
// Facts about STS and IAM reproduced here are cited where they are used;
// see the package doc of wif for the sources. Behaviour marked
// "unverified" was not found in a published source.
package provision
