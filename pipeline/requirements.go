package pipeline

import (
	"fmt"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
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
//   - a gate that is a [traffic.Stopper] is stopped when Promote returns.
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
	return errs
}
