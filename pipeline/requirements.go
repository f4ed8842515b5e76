package pipeline

import (
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// The optional interfaces a pipeline relies on, beside [Service]:
//
//   - the dev service must be a [stage.Lister]: Release finds the digest
//     dev ran for a commit among the dev revisions (rule 3). New refuses a
//     dev service that is not one. A [stage.Getter] makes that one read
//     instead of a list.
//   - a prod service that is a [stage.Namer] lets Release and the rollout
//     leave out the tags that do not fit beside its name; without it every
//     tag is tried.
//   - a service that is a [stage.Lister] and a [stage.Drifter] gives Status
//     its revisions and its drift; without them Status shows neither.
//   - [Pipeline.Prune] selects among a [stage.Lister]'s revisions and
//     deletes through a [stage.Deleter]; without them it refuses.
//   - a gate that is a [traffic.Stopper] is stopped when Promote returns.
//   - an [HTTPCheck] among the verifiers ([WithVerifiers]) needs the
//     candidate's preview URL, its "candidate" tag: New refuses it when the
//     prod service (a [stage.Namer]) has a name that leaves no room for the
//     tag (see [traffic.TagFits]), since every release would then fail its
//     check. A shorter fallback tag would help only names of 38 to 43
//     characters: Cloud Run wants tags of at least 3 characters (reported in
//     PolicyEngine/policyengine-sim-api#656: "revision tags must contain at
//     least three characters"; unverified against the API), and a tag and
//     the service name share 46 characters.
//
// stage/cloudrun.Service and fake.Service implement them all.

// checkStages returns one error per missing interface a pipeline needs,
// naming it and the service, wrapping twostage.ErrInvalid.
func (p *Pipeline) checkStages() []error {
	var errs []error
	if p.dev != nil {
		if _, ok := p.dev.(stage.Lister); !ok {
			errs = append(errs, fmt.Errorf("pipeline: the dev service %T is not a stage.Lister (Revisions), which Release needs to find the digest dev ran for a commit: %w", p.dev, twostage.ErrInvalid))
		}
	}
	if svc := serviceName(p.prod); svc != "" && !traffic.TagFits(svc, traffic.TagCandidate) {
		for i, v := range p.verifiers {
			switch v.(type) {
			case HTTPCheck, *HTTPCheck:
				errs = append(errs, fmt.Errorf("pipeline: WithVerifiers: verifier %d is an HTTPCheck of the candidate's preview URL, but the prod service name %q (%d characters) leaves no room for the %q tag that URL needs (Cloud Run allows %d characters for a tag and the service name together), so every release would fail it; use a prod service name of at most %d characters, or check with a GateVerifier instead: %w",
					i+1, svc, len(svc), traffic.TagCandidate, traffic.MaxTagServiceLen, traffic.MaxTagServiceLen-len(traffic.TagCandidate), twostage.ErrInvalid))
			}
		}
	}
	return errs
}
