package ghactions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Env is what a workflow run tells about itself.
type Env struct {
	// Actions is true inside GitHub Actions (GITHUB_ACTIONS=true).
	Actions bool
	// EventName is GITHUB_EVENT_NAME ("push", "workflow_dispatch", "schedule").
	EventName string
	// Ref is GITHUB_REF ("refs/heads/main", "refs/tags/v1.4.2").
	Ref string
	// SHA is GITHUB_SHA, the commit.
	SHA string
	// Actor is GITHUB_ACTOR.
	Actor string
	// Repository is GITHUB_REPOSITORY ("owner/name").
	Repository string
	// RunURL links to the run, when known.
	RunURL string
	// OutputFile and SummaryFile are GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
	OutputFile, SummaryFile string
	// OIDC is true when the job may request an ID token
	// (ACTIONS_ID_TOKEN_REQUEST_URL is set: `permissions: id-token: write`).
	OIDC bool
}

// FromEnv reads the environment through getenv.
func FromEnv(getenv func(string) string) Env {
	e := Env{
		Actions:     getenv("GITHUB_ACTIONS") == "true",
		EventName:   getenv("GITHUB_EVENT_NAME"),
		Ref:         getenv("GITHUB_REF"),
		SHA:         strings.ToLower(getenv("GITHUB_SHA")),
		Actor:       getenv("GITHUB_ACTOR"),
		Repository:  getenv("GITHUB_REPOSITORY"),
		OutputFile:  getenv("GITHUB_OUTPUT"),
		SummaryFile: getenv("GITHUB_STEP_SUMMARY"),
		OIDC:        getenv("ACTIONS_ID_TOKEN_REQUEST_URL") != "",
	}
	if s, r, id := getenv("GITHUB_SERVER_URL"), e.Repository, getenv("GITHUB_RUN_ID"); s != "" && r != "" && id != "" {
		e.RunURL = s + "/" + r + "/actions/runs/" + id
	}
	return e
}

// Branch returns the branch of a branch ref, or "".
func (e Env) Branch() string {
	b, _ := strings.CutPrefix(e.Ref, "refs/heads/")
	if b == e.Ref {
		return ""
	}
	return b
}

// Tag returns the tag of a tag ref, or "".
func (e Env) Tag() string {
	t, ok := strings.CutPrefix(e.Ref, "refs/tags/")
	if !ok {
		return ""
	}
	return t
}

// Command is what the event asks for: "dev" for a branch push, "release"
// for a tag push, "" otherwise.
func (e Env) Command() string {
	switch {
	case e.Branch() != "":
		return "dev"
	case e.Tag() != "":
		return "release"
	}
	return ""
}

// WriteOutputs appends outputs to the GITHUB_OUTPUT file in the
// NAME<<DELIMITER form, which carries any value, sorted by name. It does
// nothing when file is "".
func WriteOutputs(file string, outputs map[string]string) error {
	if file == "" || len(outputs) == 0 {
		return nil
	}
	var b strings.Builder
	names := make([]string, 0, len(outputs))
	for k := range outputs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := outputs[k]
		delim := delimiter()
		for strings.Contains(v, delim) {
			delim = delimiter()
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", k, delim, v, delim)
	}
	return appendFile(file, b.String())
}

func delimiter() string {
	var r [8]byte
	rand.Read(r[:])
	return "ghadelimiter_" + hex.EncodeToString(r[:])
}

// AppendSummary appends markdown to the GITHUB_STEP_SUMMARY file. It does
// nothing when file is "".
func AppendSummary(file, markdown string) error {
	if file == "" {
		return nil
	}
	return appendFile(file, markdown)
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing GitHub Actions file: %w", err)
	}
	if _, err := io.WriteString(f, s); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return f.Close()
}

// Group starts a collapsible log group.
func Group(w io.Writer, title string) { fmt.Fprintf(w, "::group::%s\n", escapeData(title)) }

// EndGroup ends the log group.
func EndGroup(w io.Writer) { fmt.Fprintln(w, "::endgroup::") }

// Error prints an error annotation with a title.
func Error(w io.Writer, title, msg string) {
	fmt.Fprintf(w, "::error title=%s::%s\n", escapeProperty(title), escapeData(msg))
}

// Notice prints a notice annotation with a title.
func Notice(w io.Writer, title, msg string) {
	fmt.Fprintf(w, "::notice title=%s::%s\n", escapeProperty(title), escapeData(msg))
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Mask tells the runner to hide secret in the log from now on
// (::add-mask::).
func Mask(w io.Writer, secret string) {
	if secret != "" {
		fmt.Fprintf(w, "::add-mask::%s\n", escapeData(secret))
	}
}
