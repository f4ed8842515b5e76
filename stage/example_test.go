package stage_test

import (
	"fmt"

	"github.com/twostage/twostage/stage"
)

// A push to main deploys the commit to the dev stage as revision
// "<service>-<sha7>". Deriving the name from the commit makes a re-run
// adopt the revision it created before.
func ExampleDevSuffix() {
	suffix, err := stage.DevSuffix("3F2A9C1E0B7D4A6F8E2C1B0A9D8E7F6A5B4C3D2E")
	if err != nil {
		fmt.Println(err)
		return
	}
	name, err := stage.RevisionName("api-dev", suffix)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(name)
	// Output:
	// api-dev-3f2a9c1
}

// A release tag is not a valid revision name as it is: ReleaseSuffix maps
// it, and RevisionName shortens the result to fit 63 characters, keeping
// the commit. Build metadata does not make a different revision.
func ExampleReleaseSuffix() {
	const sha = "3f2a9c1e0b7d4a6f8e2c1b0a9d8e7f6a5b4c3d2e"
	for _, tag := range []string{"v1.4.2", "v1.4.2+build.5", "V2.0.0-RC.1"} {
		suffix, err := stage.ReleaseSuffix(tag, sha)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tag, "→", suffix)
	}

	// 49 characters: the longest service name Cloud Run allows.
	const service = "payments-reconciliation-service-europe-west4-prod"
	suffix, err := stage.ReleaseSuffix("v1.4.2", sha)
	if err != nil {
		fmt.Println(err)
		return
	}
	name, err := stage.RevisionName(service, suffix)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(name, len(name))

	// A second attempt, when the first name is taken by another
	// configuration, keeps the commit and the attempt number.
	if name, err = stage.RevisionName(service, stage.AttemptSuffix(suffix, 2)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(name, len(name))

	// Tags that leave no name are refused.
	_, err = stage.ReleaseSuffix("+build.5", sha)
	fmt.Println(err)
	// Output:
	// v1.4.2 → v1-4-2-3f2a9c1
	// v1.4.2+build.5 → v1-4-2-3f2a9c1
	// V2.0.0-RC.1 → v2-0-0-rc-1-3f2a9c1
	// payments-reconciliation-service-europe-west4-prod-da9c-3f2a9c1 62
	// payments-reconciliation-service-europe-west4-prod-da9-3f2a9c1-2 63
	// stage: release tag "+build.5" has no letters or digits before its build metadata to name a revision after; use a tag such as v1.4.2: invalid
}

// ValidateRevisionName explains what is wrong with a name and suggests one.
func ExampleValidateRevisionName() {
	fmt.Println(stage.ValidateRevisionName("api-v1-4-2-3f2a9c1"))
	fmt.Println(stage.ValidateRevisionName("api-v1.4.2"))
	// Output:
	// <nil>
	// stage: revision name "api-v1.4.2" has '.' at position 7; only lower-case letters, digits and '-' are allowed; did you mean "api-v1-4-2"?: invalid
}
