package traffic_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/traffic"
)

func steps(percents ...int) traffic.Plan {
	p := traffic.Plan{}
	for _, n := range percents {
		p.Steps = append(p.Steps, traffic.Step{Percent: n})
	}
	return p
}

func TestPlanValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		plan    traffic.Plan
		wantErr []string // nil: valid
	}{
		{name: "default plan", plan: traffic.DefaultPlan()},
		{name: "1 then 100", plan: steps(1, 100)},
		{name: "5 then 100", plan: steps(traffic.MaxFirstStep, 100)},
		{name: "many small steps", plan: steps(1, 2, 3, 50, 99, 100)},
		{name: "durations", plan: traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: time.Hour, MaxWait: time.Minute}, {Percent: 100, Bake: time.Second}}}},

		{name: "no steps", plan: traffic.Plan{}, wantErr: []string{"no steps", "DefaultPlan"}},
		{name: "empty steps", plan: traffic.Plan{Steps: []traffic.Step{}}, wantErr: []string{"no steps"}},
		{name: "100 alone breaks the first-step rule", plan: steps(100), wantErr: []string{"step 1", "percent 100", "first step must route at most 5%", "5% → 25% → 100%"}},
		{name: "10 then 100", plan: steps(10, 100), wantErr: []string{"step 1", "percent 10 is above 5", "first step must route at most 5%"}},
		{name: "6 first", plan: steps(6, 100), wantErr: []string{"step 1", "percent 6"}},
		{name: "zero first", plan: steps(0, 100), wantErr: []string{"step 1", "percent 0 is not in 1..100"}},
		{name: "negative first", plan: steps(-5, 100), wantErr: []string{"step 1", "percent -5"}},
		{name: "over 100", plan: steps(5, 101), wantErr: []string{"step 2", "percent 101 is not in 1..100"}},
		{name: "not rising", plan: steps(5, 25, 25, 100), wantErr: []string{"step 3", "does not rise above step 2's 25", "rise strictly"}},
		{name: "falling", plan: steps(5, 50, 20, 100), wantErr: []string{"step 3", "percent 20"}},
		{name: "repeated 100", plan: steps(5, 100, 100), wantErr: []string{"step 3", "does not rise"}},
		{name: "last not 100", plan: steps(5, 25, 50), wantErr: []string{"last step routes 50%", "want 100", "add a final step of 100"}},
		{name: "single step under 100", plan: steps(5), wantErr: []string{"last step routes 5%"}},
		{name: "negative bake", plan: traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: -time.Second}, {Percent: 100}}}, wantErr: []string{"step 1", "negative bake -1s"}},
		{name: "negative max wait", plan: traffic.Plan{Steps: []traffic.Step{{Percent: 5}, {Percent: 100, MaxWait: -time.Minute}}}, wantErr: []string{"step 2", "max wait -1m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.plan.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("%v.Validate() = %v, want nil", tt.plan, err)
				}
				return
			}
			checkErr(t, err, tt.wantErr...)
		})
	}
}

func TestPlanString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		plan traffic.Plan
		want string
	}{
		{traffic.DefaultPlan(), "5% → 25% → 100%"},
		{steps(1, 100), "1% → 100%"},
		{traffic.Plan{}, ""},
	}
	for _, tt := range tests {
		if got := tt.plan.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestDefaultPlanIsValid(t *testing.T) {
	t.Parallel()
	p := traffic.DefaultPlan()
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultPlan().Validate() = %v", err)
	}
	if p.Steps[0].Percent > traffic.MaxFirstStep {
		t.Errorf("DefaultPlan first step %d%% > %d%%", p.Steps[0].Percent, traffic.MaxFirstStep)
	}
	// Each call returns a fresh plan: editing one does not change the next.
	p.Steps[0].Percent = 50
	if got := traffic.DefaultPlan().Steps[0].Percent; got != 5 {
		t.Errorf("DefaultPlan shares its steps: first step now %d", got)
	}
}

// FuzzPlanValidate builds plans from fuzz input, three bytes per step
// (percent as a signed byte, bake and max wait in signed minutes), and
// checks Plan.Validate against the rules written out independently.
func FuzzPlanValidate(f *testing.F) {
	f.Add([]byte{5, 5, 30, 25, 5, 30, 100, 0, 0}) // DefaultPlan
	f.Add([]byte{10, 0, 0, 100, 0, 0})            // first step too big
	f.Add([]byte{5, 0, 0, 5, 0, 0, 100, 0, 0})    // not rising
	f.Add([]byte{5, 0, 0, 50, 0, 0})              // last not 100
	f.Add([]byte{5, 255, 0, 100, 0, 0})           // negative bake
	f.Add([]byte{})                               // no steps
	f.Fuzz(func(t *testing.T, data []byte) {
		var p traffic.Plan
		for len(data) >= 3 && len(p.Steps) < 32 {
			p.Steps = append(p.Steps, traffic.Step{
				Percent: int(int8(data[0])),
				Bake:    time.Duration(int8(data[1])) * time.Minute,
				MaxWait: time.Duration(int8(data[2])) * time.Minute,
			})
			data = data[3:]
		}
		err := p.Validate()
		_ = p.String()
		if err != nil && !errors.Is(err, twostage.ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
		}
		ok := len(p.Steps) > 0 && p.Steps[0].Percent <= traffic.MaxFirstStep && p.Steps[len(p.Steps)-1].Percent == 100
		prev := 0
		for _, s := range p.Steps {
			if s.Percent < 1 || s.Percent > 100 || s.Percent <= prev || s.Bake < 0 || s.MaxWait < 0 {
				ok = false
			}
			prev = s.Percent
		}
		if ok != (err == nil) {
			t.Fatalf("%v (%+v): Validate() = %v, but the rules say valid=%v", p, p.Steps, err, ok)
		}
	})
}
