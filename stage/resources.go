package stage

import (
	"fmt"
	"strconv"
	"strings"
)

// Cloud Run's defaults, used by [ValidateResources] for an unset value:
// "By default, each instance is limited to 1 vCPU"
// (https://cloud.google.com/run/docs/configuring/services/cpu) and "By
// default, the memory allocated to each instance of a revision is 512 MiB"
// (https://cloud.google.com/run/docs/configuring/services/memory-limits).
const (
	defaultCPUMilli = 1000
	defaultMemory   = 512 * mi
)

const (
	ki = int64(1) << 10
	mi = ki << 10
	gi = mi << 10
)

// ValidateResources checks a CPU and memory limit pair the way Cloud Run
// does; an empty value stands for Cloud Run's default (1 CPU, 512 MiB), so
// backends call it with the limits a revision would get after applying
// [Overrides] onto the live template. Errors wrap [twostage.ErrInvalid].
//
// CPU is "1", "2", "4", "6" or "8", or a fraction from 0.08 to 1 in steps of
// 0.001 ("0.5", "500m"). Memory is a number with a unit, M, G, Mi or Gi (k
// and Ki too), from 128 MiB to 32 GiB. The pair must be in this table, from
// https://cloud.google.com/run/docs/configuring/services/cpu ("vCPU and
// memory table") and its "less than 1 vCPU" rules, checked 2026-11-25:
//
//	CPU           memory
//	< 0.5         up to 512 MiB
//	0.5 to < 1    up to 1 GiB
//	1             up to 4 GiB
//	2             up to 8 GiB
//	4             2 GiB to 16 GiB
//	6             4 GiB to 24 GiB
//	8             4 GiB to 32 GiB
//
// Unverified against the API itself: runpb ResourceRequirements.limits says
// "The only supported values for CPU are '1', '2', '4', and '8'. Setting 4
// CPU requires at least 2Gi of memory", which predates 6 CPUs and fractions;
// the docs table is used. The second-generation execution environment's
// minimum of 512 MiB is not checked (the environment is not an override).
func ValidateResources(cpu, memory string) error {
	c, err := parseCPU(cpu)
	if err != nil {
		return err
	}
	m, err := parseMemory(memory)
	if err != nil {
		return err
	}
	if cpu == "" {
		c = defaultCPUMilli
	}
	if memory == "" {
		m = defaultMemory
	}
	lo, hi := int64(0), int64(0)
	switch {
	case c < 500:
		hi = 512 * mi
	case c < 1000:
		hi = gi
	case c == 1000:
		hi = 4 * gi
	case c == 2000:
		hi = 8 * gi
	case c == 4000:
		lo, hi = 2*gi, 16*gi
	case c == 6000:
		lo, hi = 4*gi, 24*gi
	case c == 8000:
		lo, hi = 4*gi, 32*gi
	}
	if m < lo || m > hi {
		return invalidf("overrides: memory %s with CPU %s: Cloud Run allows %s to %s with that CPU (see https://cloud.google.com/run/docs/configuring/services/cpu); change Memory or CPU",
			orDefault(memory, "512Mi"), orDefault(cpu, "1"), formatBytes(max(lo, 128*mi)), formatBytes(hi))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def + " (default)"
	}
	return strconv.Quote(s)
}

func formatBytes(n int64) string {
	if n%gi == 0 {
		return strconv.FormatInt(n/gi, 10) + "Gi"
	}
	return strconv.FormatInt(n/mi, 10) + "Mi"
}

// parseCPU returns a CPU limit in millicores; 0 for "".
func parseCPU(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	bad := func() (int64, error) {
		return 0, invalidf("overrides: CPU %q: want \"1\", \"2\", \"4\", \"6\" or \"8\", or a fraction from \"0.08\" to \"1\" such as \"0.5\" or \"500m\"", s)
	}
	var milli int64
	if n, ok := strings.CutSuffix(s, "m"); ok {
		if !isDigits(n) || len(n) > 6 {
			return bad()
		}
		milli, _ = strconv.ParseInt(n, 10, 64)
	} else {
		whole, frac, _ := strings.Cut(s, ".")
		if !isDigits(whole) || len(whole) > 3 || strings.Contains(s, ".") && (!isDigits(frac) || len(frac) > 3) {
			return bad()
		}
		w, _ := strconv.ParseInt(whole, 10, 64)
		f := int64(0)
		if frac != "" {
			f, _ = strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
		}
		milli = w*1000 + f
	}
	switch {
	case milli >= 80 && milli <= 1000:
	case milli == 2000, milli == 4000, milli == 6000, milli == 8000:
	default:
		return bad()
	}
	return milli, nil
}

// parseMemory returns a memory limit in bytes; 0 for "". Units follow
// https://cloud.google.com/run/docs/configuring/services/memory-limits
// ("a fixed or floating point number followed by a unit: G or M for
// gigabytes or megabytes, or Gi or Mi for gibibytes or mebibytes"), with k
// and Ki as well; at most three decimals.
func parseMemory(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	bad := func(why string) (int64, error) {
		return 0, invalidf("overrides: Memory %q: %s; want a size such as \"512Mi\" or \"2Gi\" from 128Mi to 32Gi", s, why)
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", ki}, {"Mi", mi}, {"Gi", gi}, {"k", 1000}, {"M", 1000 * 1000}, {"G", 1000 * 1000 * 1000}}
	num, mult := "", int64(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	if mult == 0 {
		return bad("no unit")
	}
	whole, frac, dot := strings.Cut(num, ".")
	if !isDigits(whole) || len(whole) > 9 || dot && (!isDigits(frac) || len(frac) > 3) {
		return bad("not a number")
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
	}
	n := w*mult + f*mult/1000
	if n < 128*mi || n > 32*gi {
		return bad("out of range")
	}
	return n, nil
}

// ValidateEffective checks the settings a revision would run with, live
// after [Overrides.ApplyTo], for the rules that span a declared and a live
// value: the CPU and memory pair ([ValidateResources], with Cloud Run's
// defaults for unset values), min ≤ max instances, and concurrency 1 below
// 1 CPU. Backends call it before writing; it does not re-check what
// [Overrides.Validate] checks, since live settings made elsewhere may not
// follow this package's stricter rules. Errors wrap [twostage.ErrInvalid]
// and say which value is live.
func ValidateEffective(declared, effective Overrides) error {
	if err := ValidateResources(effective.CPU, effective.Memory); err != nil {
		return fmt.Errorf("stage: the CPU/memory pair after applying the overrides (CPU %s, memory %s) is refused: %w",
			origin(declared.CPU != ""), origin(declared.Memory != ""), err)
	}
	if effective.MinInstances != nil && effective.MaxInstances != nil && *effective.MaxInstances > 0 && *effective.MinInstances > *effective.MaxInstances {
		return invalidf("overrides: MinInstances %d (%s) is above MaxInstances %d (%s)", *effective.MinInstances, origin(declared.MinInstances != nil), *effective.MaxInstances, origin(declared.MaxInstances != nil))
	}
	if effective.Concurrency != nil && *effective.Concurrency > 1 {
		if c, err := parseCPU(effective.CPU); err == nil && effective.CPU != "" && c < 1000 {
			return invalidf("overrides: Concurrency %d (%s) with CPU %q (%s): Cloud Run requires concurrency 1 below 1 CPU", *effective.Concurrency, origin(declared.Concurrency != nil), effective.CPU, origin(declared.CPU != ""))
		}
	}
	return nil
}

func origin(declared bool) string {
	if declared {
		return "declared"
	}
	return "live"
}
