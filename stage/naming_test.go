package stage_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

// revisionRE is the Cloud Run revision name pattern, written out
// independently of the code under test.
var revisionRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

const (
	sha40 = "abcdef1234567890abcdef1234567890abcdef12"
	sha64 = "abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890"
)

// service returns a valid service name of n characters.
func service(n int) string {
	return "s" + strings.Repeat("x", n-1)
}

func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, twostage.ErrInvalid) {
		t.Fatalf("error = %v, want one wrapping twostage.ErrInvalid", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// checkName asserts the properties every derived revision name has.
func checkName(t *testing.T, svc, name string) {
	t.Helper()
	if len(name) > stage.MaxRevisionNameLen {
		t.Errorf("name %q is %d characters, more than %d", name, len(name), stage.MaxRevisionNameLen)
	}
	if !revisionRE.MatchString(name) {
		t.Errorf("name %q does not match %s", name, revisionRE)
	}
	if !strings.HasPrefix(name, svc+"-") {
		t.Errorf("name %q does not start with %q", name, svc+"-")
	}
	if err := stage.ValidateRevisionName(name); err != nil {
		t.Errorf("ValidateRevisionName(%q) = %v", name, err)
	}
}

func TestShortSHA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr []string
	}{
		{in: sha40, want: "abcdef1"},
		{in: "ABCDEF1234567890ABCDEF1234567890ABCDEF12", want: "abcdef1"},
		{in: "AbCdEf1", want: "abcdef1"},
		{in: "0123456", want: "0123456"},
		{in: sha64, want: "abcdef1"},
		{in: sha40[:20], want: "abcdef1"},
		{in: "abcdef", wantErr: []string{`"abcdef"`, "6 characters", "7 to 40"}},
		{in: "", wantErr: []string{`""`, "0 characters"}},
		{in: sha40 + "a", wantErr: []string{"41 characters"}},
		{in: sha64[:63], wantErr: []string{"63 characters"}},
		{in: sha64 + "a", wantErr: []string{"65 characters"}},
		{in: "abcdefg", wantErr: []string{`"abcdefg"`, `'g' at position 7`, "not a hexadecimal digit"}},
		{in: "v1.4.2-abc", wantErr: []string{`'v' at position 1`}},
		{in: " abcdef1", wantErr: []string{`' ' at position 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := stage.ShortSHA(tt.in)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ShortSHA(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDevSuffix(t *testing.T) {
	t.Parallel()
	got, err := stage.DevSuffix("ABCDEF1234567890abcdef1234567890abcdef12")
	if err != nil || got != "abcdef1" {
		t.Errorf("DevSuffix = %q, %v; want %q, nil", got, err, "abcdef1")
	}
	_, err = stage.DevSuffix("main")
	checkErr(t, err, `"main"`, "dev revision suffix")
}

func TestReleaseSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag, sha string
		want     string
		wantErr  []string
	}{
		{tag: "v1.4.2", sha: sha40, want: "v1-4-2-abcdef1"},
		{tag: "V1.4.2", sha: "ABCDEF1234567890ABCDEF1234567890ABCDEF12", want: "v1-4-2-abcdef1"},
		{tag: "v1.4.2+build.5", sha: sha40, want: "v1-4-2-abcdef1"},
		{tag: "v1.4.2+build.6", sha: sha40, want: "v1-4-2-abcdef1"},
		{tag: "v2.0.0-rc.1", sha: sha40, want: "v2-0-0-rc-1-abcdef1"},
		{tag: "v2.0.0-RC.1+exp.sha.5114f85", sha: sha40, want: "v2-0-0-rc-1-abcdef1"},
		{tag: "1.4.2", sha: sha40, want: "v1-4-2-abcdef1"},
		{tag: "2024.01.15", sha: sha40, want: "v2024-01-15-abcdef1"},
		{tag: "refs/tags/v1.0.0", sha: sha40, want: "v1-0-0-abcdef1"},
		{tag: "release/2024_01", sha: sha40, want: "release-2024-01-abcdef1"},
		{tag: "--v1..0__", sha: sha40, want: "v1-0-abcdef1"},
		{tag: "api/v1.2.0", sha: sha40, want: "api-v1-2-0-abcdef1"},
		{tag: "v1.0-β", sha: sha40, want: "v1-0-abcdef1"},
		{tag: "v1", sha: sha64, want: "v1-abcdef1"},
		{tag: "+", sha: sha40, wantErr: []string{`release tag "+"`, "v1.4.2"}},
		{tag: "...", sha: sha40, wantErr: []string{`release tag "..."`}},
		{tag: "", sha: sha40, wantErr: []string{`release tag ""`}},
		{tag: "+v1.4.2", sha: sha40, wantErr: []string{`"+v1.4.2"`}},
		{tag: "v1.4.2", sha: "xyz", wantErr: []string{`"v1.4.2"`, `"xyz"`}},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			t.Parallel()
			got, err := stage.ReleaseSuffix(tt.tag, tt.sha)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReleaseSuffix(%q, %q) = %q, %v; want %q, nil", tt.tag, tt.sha, got, err, tt.want)
			}
			again, _ := stage.ReleaseSuffix(tt.tag, tt.sha)
			if again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestRevisionName(t *testing.T) {
	t.Parallel()
	s45, s49 := service(45), service(49)
	tests := []struct {
		name    string
		service string
		suffix  string
		want    string
		wantErr []string
	}{
		{name: "dev", service: "api", suffix: "abcdef1", want: "api-abcdef1"},
		{name: "release", service: "api-prod", suffix: "v1-4-2-abcdef1", want: "api-prod-v1-4-2-abcdef1"},
		{name: "full name given", service: "api", suffix: "api-v1-4-2-abcdef1", want: "api-v1-4-2-abcdef1"},
		{name: "45-char service fits", service: s45, suffix: "v1-4-2-abcdef1", want: s45 + "-v1-4-2-abcdef1"},
		{name: "exactly 63", service: s49, suffix: "v1-4-abcdef1", want: s49 + "-v1-4-abcdef1"},
		{name: "49-char service shortened", service: s49, suffix: "v1-4-2-abcdef1", want: s49 + "-da9c-abcdef1"},
		{name: "49-char service with attempt", service: s49, suffix: "v1-4-2-abcdef1-3", want: s49 + "-da9-abcdef1-3"},
		{name: "49-char service, dev attempt kept whole", service: s49, suffix: "abcdef1-12", want: s49 + "-abcdef1-12"},
		{name: "front cut mid-part", service: s49, suffix: "v10-20-30-abcdef1", want: s49 + "-dcc6-abcdef1"},
		{name: "front cut to fit exactly", service: service(47), suffix: "v1-4-2-abcdef1-99", want: service(47) + "-da9c-abcdef1-99"},
		{name: "front dropped entirely", service: s49, suffix: "v1-4-2-abcdef1-12345", want: s49 + "-abcdef1-12345"},
		{name: "long pre-release", service: "api", suffix: "v2-0-0-alpha-" + strings.Repeat("x", 60) + "-abcdef1", want: "api-v2-0-0-alpha-" + strings.Repeat("x", 33) + "-d029-abcdef1"},
		{name: "no sha: last 8 kept", service: s49, suffix: "custom-suffix-without-a-hash", want: s49 + "-1166-t-a-hash"},
		{name: "full name shortened", service: s49, suffix: s49 + "-v1-4-2-abcdef1", want: s49 + "-da9c-abcdef1"},
		{name: "45-char service, pre-release cut with a hash", service: s45, suffix: "v1-4-2-rc-1-abcdef1", want: s45 + "-v1-4-55c2-abcdef1"},
		{name: "suffix with a dot", service: "api", suffix: "v1.4.2", wantErr: []string{`"api-v1.4.2"`, `'.' at position 7`, `did you mean "api-v1-4-2"`}},
		{name: "upper-case suffix", service: "api", suffix: "V1-ABCDEF1", wantErr: []string{`"api-V1-ABCDEF1"`, `did you mean "api-v1-abcdef1"`}},
		{name: "suffix ending with dash", service: "api", suffix: "v1-", wantErr: []string{"ends with '-'"}},
		{name: "empty suffix", service: "api", suffix: "", wantErr: []string{`service "api"`, "suffix is empty", "DevSuffix"}},
		{name: "only the service prefix", service: "api", suffix: "api-", wantErr: []string{"suffix is empty"}},
		{name: "service too long", service: service(50), suffix: "abcdef1", wantErr: []string{"50 characters", "49"}},
		{name: "service upper case", service: "API", suffix: "abcdef1", wantErr: []string{`service name "API"`, `did you mean "api"`}},
		{name: "service with underscore", service: "my_api", suffix: "abcdef1", wantErr: []string{`"my_api"`, `'_' at position 3`, `did you mean "my-api"`}},
		{name: "service starting with digit", service: "1api", suffix: "abcdef1", wantErr: []string{`"1api"`, "must start with a lower-case letter"}},
		{name: "service ending with dash", service: "api-", suffix: "abcdef1", wantErr: []string{`"api-"`, "ends with '-'", `did you mean "api"`}},
		{name: "empty service", service: "", suffix: "abcdef1", wantErr: []string{`service name ""`, "is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := stage.RevisionName(tt.service, tt.suffix)
			if tt.wantErr != nil {
				checkErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("RevisionName(%q, %q) = %v", tt.service, tt.suffix, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RevisionName(%q, %q) mismatch (-want +got):\n%s", tt.service, tt.suffix, diff)
			}
			checkName(t, tt.service, got)
			if again, err := stage.RevisionName(tt.service, got); err != nil || again != got {
				t.Errorf("RevisionName(%q, %q) = %q, %v; want the name back", tt.service, got, again, err)
			}
		})
	}
}

// TestShortenedNamesStayUnique: tags on one commit that differ only in the
// part a long service name forces to cut get different revision names (a
// short hash of the cut part), so each can be released. On the old
// derivation both pairs mapped to one name.
func TestShortenedNamesStayUnique(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		service string
		tags    [2]string
	}{
		{service(45), [2]string{"v1.4.2-rc.1", "v1.4.2-rc.2"}},
		{service(49), [2]string{"v1.4.2", "v1.4.3"}},
		{service(49), [2]string{"v10.20.30", "v10.20.31"}},
	} {
		var got [2]string
		for i, tag := range tc.tags {
			suffix, err := stage.ReleaseSuffix(tag, sha40)
			if err != nil {
				t.Fatal(err)
			}
			if got[i], err = stage.RevisionName(tc.service, suffix); err != nil {
				t.Fatal(err)
			}
			checkName(t, tc.service, got[i])
		}
		if got[0] == got[1] {
			t.Errorf("%d-character service: tags %q and %q both name revision %q", len(tc.service), tc.tags[0], tc.tags[1], got[0])
		}
	}
}

// TestDerivedNames checks the cases the design promises, end to end from a
// tag and a commit.
func TestDerivedNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		service, tag, sha string
		attempt           int
		want              string
	}{
		{service(45), "v1.4.2", sha40, 1, service(45) + "-v1-4-2-abcdef1"},
		{service(49), "v1.4.2", sha40, 1, service(49) + "-da9c-abcdef1"},
		{service(49), "V1.4.2+build.7", strings.ToUpper(sha40), 2, service(49) + "-da9-abcdef1-2"},
		{"api", "v2.0.0-rc.1", sha40, 1, "api-v2-0-0-rc-1-abcdef1"},
		{"api", "v2.0.0-rc.1", sha64, 3, "api-v2-0-0-rc-1-abcdef1-3"},
	}
	for _, tt := range tests {
		suffix, err := stage.ReleaseSuffix(tt.tag, tt.sha)
		if err != nil {
			t.Fatalf("ReleaseSuffix(%q, %q) = %v", tt.tag, tt.sha, err)
		}
		got, err := stage.RevisionName(tt.service, stage.AttemptSuffix(suffix, tt.attempt))
		if err != nil {
			t.Fatalf("RevisionName: %v", err)
		}
		if got != tt.want {
			t.Errorf("%q %q %q attempt %d: got %q, want %q", tt.service, tt.tag, tt.sha, tt.attempt, got, tt.want)
		}
		checkName(t, tt.service, got)
	}
}

// TestDerivedNamesRandom derives names from random services, tags and
// attempts: all are valid, keep the SHA and the attempt, and are
// deterministic.
func TestDerivedNamesRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	const alphabet = "abcxyz0189.-_+/ABCZ"
	for i := range 3000 {
		svc := service(1 + r.IntN(stage.MaxServiceNameLen))
		var tag strings.Builder
		tag.WriteByte('v')
		for range r.IntN(60) {
			tag.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		sha := fmt.Sprintf("%040x", r.Uint64())
		attempt := r.IntN(1000)
		suffix, err := stage.ReleaseSuffix(tag.String(), sha)
		if err != nil {
			t.Fatalf("case %d: ReleaseSuffix(%q) = %v", i, tag.String(), err)
		}
		suffix = stage.AttemptSuffix(suffix, attempt)
		got, err := stage.RevisionName(svc, suffix)
		if err != nil {
			t.Fatalf("case %d: RevisionName(%q, %q) = %v", i, svc, suffix, err)
		}
		checkName(t, svc, got)
		wantEnd := "-" + sha[:7]
		if attempt > 1 {
			wantEnd += fmt.Sprintf("-%d", attempt)
		}
		if !strings.HasSuffix(got, wantEnd) {
			t.Errorf("case %d: %q does not end with %q", i, got, wantEnd)
		}
		if again, _ := stage.RevisionName(svc, suffix); again != got {
			t.Errorf("case %d: not deterministic: %q then %q", i, got, again)
		}
	}
}

func TestValidateRevisionName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr []string
	}{
		{in: "a"},
		{in: "api-abcdef1"},
		{in: "a--b"},
		{in: "a" + strings.Repeat("0", 62)},
		{in: "", wantErr: []string{`revision name ""`, "is empty"}},
		{in: "a" + strings.Repeat("0", 63), wantErr: []string{"64 characters", "63", "did you mean"}},
		{in: "api-v1.4.2", wantErr: []string{`"api-v1.4.2"`, `'.' at position 7`, `did you mean "api-v1-4-2"`}},
		{in: "Api-1", wantErr: []string{`starts with 'A'`, `did you mean "api-1"`}},
		{in: "1api", wantErr: []string{`starts with '1'`}},
		{in: "-api", wantErr: []string{`starts with '-'`, `did you mean "api"`}},
		{in: "api-", wantErr: []string{"ends with '-'", `did you mean "api"`}},
		{in: "api rev", wantErr: []string{`' ' at position 4`, `did you mean "api-rev"`}},
		{in: "api-é", wantErr: []string{"position 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			err := stage.ValidateRevisionName(tt.in)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("ValidateRevisionName(%q) = %v", tt.in, err)
				}
				return
			}
			checkErr(t, err, tt.wantErr...)
			if strings.HasPrefix(tt.in, "1") && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("suggestion for %q cannot be valid: %v", tt.in, err)
			}
		})
	}
}

func TestValidateServiceName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr []string
	}{
		{in: "api"},
		{in: "api-prod"},
		{in: service(49)},
		{in: service(50), wantErr: []string{"50 characters", "49", `did you mean "` + service(49) + `"`}},
		{in: "", wantErr: []string{`service name ""`, "is empty"}},
		{in: "Api", wantErr: []string{`did you mean "api"`}},
		{in: "api.prod", wantErr: []string{`did you mean "api-prod"`}},
		{in: "api-", wantErr: []string{"ends with '-'"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			err := stage.ValidateServiceName(tt.in)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("ValidateServiceName(%q) = %v", tt.in, err)
				}
				return
			}
			checkErr(t, err, tt.wantErr...)
		})
	}
}

func TestAttemptSuffix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		suffix string
		n      int
		want   string
	}{
		{"v1-4-2-abcdef1", -1, "v1-4-2-abcdef1"},
		{"v1-4-2-abcdef1", 0, "v1-4-2-abcdef1"},
		{"v1-4-2-abcdef1", 1, "v1-4-2-abcdef1"},
		{"v1-4-2-abcdef1", 2, "v1-4-2-abcdef1-2"},
		{"abcdef1", 10, "abcdef1-10"},
	}
	for _, tt := range tests {
		if got := stage.AttemptSuffix(tt.suffix, tt.n); got != tt.want {
			t.Errorf("AttemptSuffix(%q, %d) = %q, want %q", tt.suffix, tt.n, got, tt.want)
		}
	}
}

// FuzzReleaseSuffix derives names from any tag, SHA and service: nothing
// panics; a derived suffix keeps the short SHA; and for a valid service the
// name always derives, is valid, at most 63 characters, starts with the
// service and keeps the SHA and attempt.
func FuzzReleaseSuffix(f *testing.F) {
	f.Add("v1.4.2", sha40, "api", 1)
	f.Add("V2.0.0-RC.1+build.5", strings.ToUpper(sha40), service(49), 2)
	f.Add("+", sha40, "api", 0)
	f.Add("...", "abc", "API", 0)
	f.Add("refs/tags/1.0.0", sha64, service(45), 999)
	f.Add(strings.Repeat("v1.", 40), sha40, service(49), 12345)
	f.Fuzz(func(t *testing.T, tag, sha, svc string, attempt int) {
		suffix, err := stage.ReleaseSuffix(tag, sha)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("ReleaseSuffix error %v does not wrap ErrInvalid", err)
			}
			return
		}
		sha7 := strings.ToLower(sha[:7])
		if !strings.HasSuffix(suffix, "-"+sha7) || !revisionRE.MatchString("x"+suffix) {
			t.Fatalf("ReleaseSuffix(%q, %q) = %q: not <slug>-%s", tag, sha, suffix, sha7)
		}
		attempt = attempt % 100000 // attempt numbers beyond 5 digits may not fit a 49-character service
		suffix = stage.AttemptSuffix(suffix, attempt)
		name, err := stage.RevisionName(svc, suffix)
		if stage.ValidateServiceName(svc) != nil {
			if err == nil {
				t.Fatalf("RevisionName(%q, ...) accepted an invalid service", svc)
			}
			return
		}
		if err != nil {
			t.Fatalf("RevisionName(%q, %q) = %v", svc, suffix, err)
		}
		checkName(t, svc, name)
		wantEnd := "-" + sha7
		if attempt > 1 {
			wantEnd += fmt.Sprintf("-%d", attempt)
		}
		if !strings.HasSuffix(name, wantEnd) {
			t.Fatalf("RevisionName(%q, %q) = %q, lost %q", svc, suffix, name, wantEnd)
		}
	})
}

// FuzzRevisionName joins any service and suffix: nothing panics; a result
// is valid, at most 63 characters, starts with the service and is a fixed
// point; a clean suffix that fits is never refused.
func FuzzRevisionName(f *testing.F) {
	f.Add("api", "abcdef1")
	f.Add("api", "api-abcdef1")
	f.Add(service(49), "v1-4-2-abcdef1-2")
	f.Add("api", "v1.4.2")
	f.Add("API", "x")
	f.Add(service(10), strings.Repeat("-", 70))
	f.Add("a", "a-")
	f.Fuzz(func(t *testing.T, svc, suffix string) {
		name, err := stage.RevisionName(svc, suffix)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("RevisionName error %v does not wrap ErrInvalid", err)
			}
			clean := suffix != "" && revisionRE.MatchString("x"+suffix) && !strings.HasPrefix(suffix, svc+"-")
			if stage.ValidateServiceName(svc) == nil && clean && len(svc)+1+len(suffix) <= stage.MaxRevisionNameLen {
				t.Fatalf("RevisionName(%q, %q) refused a name that fits: %v", svc, suffix, err)
			}
			return
		}
		checkName(t, svc, name)
		if again, err := stage.RevisionName(svc, name); err != nil || again != name {
			t.Fatalf("RevisionName(%q, %q) = %q, %v; want %q back", svc, name, again, err, name)
		}
	})
}

// FuzzValidateRevisionName checks ValidateRevisionName against the
// regular expression and length limit, and that suggestions are valid.
func FuzzValidateRevisionName(f *testing.F) {
	for _, s := range []string{"api-1", "", "api-v1.4.2", "Api", "1a", "a-", strings.Repeat("a", 64), "api-é"} {
		f.Add(s)
	}
	suggestion := regexp.MustCompile(`did you mean "([^"]*)"`)
	f.Fuzz(func(t *testing.T, name string) {
		err := stage.ValidateRevisionName(name)
		valid := len(name) <= stage.MaxRevisionNameLen && revisionRE.MatchString(name)
		if valid != (err == nil) {
			t.Fatalf("ValidateRevisionName(%q) = %v, want valid=%v", name, err, valid)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, twostage.ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		if m := suggestion.FindStringSubmatch(err.Error()); m != nil {
			if s := m[1]; len(s) > stage.MaxRevisionNameLen || !revisionRE.MatchString(s) {
				t.Fatalf("suggestion %q for %q is not valid", s, name)
			}
		}
		_ = stage.ValidateServiceName(name)
	})
}

func BenchmarkReleaseSuffix(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stage.ReleaseSuffix("v2.0.0-rc.1+build.5", sha40); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevisionName(b *testing.B) {
	for _, bc := range []struct {
		name, service, suffix string
	}{
		{"fits", "api-prod", "v1-4-2-abcdef1"},
		{"shortened", service(49), "v1-4-2-abcdef1-2"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := stage.RevisionName(bc.service, bc.suffix); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
