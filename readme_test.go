package twostage_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMETaste keeps the README's "A taste" snippet equal to the body of
// pipeline's Example_taste between its BEGIN and END markers, so the
// snippet is code that go test runs.
func TestREADMETaste(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("pipeline/taste_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## A taste\n")
	_, code, ok2 := strings.Cut(section, "```go\n")
	code, _, ok3 := strings.Cut(code, "```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README.md has no "## A taste" section with a go code block`)
	}
	_, body, ok := strings.Cut(string(example), "// BEGIN taste\n")
	body, _, ok2 = strings.Cut(body, "\t// END taste")
	if !ok || !ok2 {
		t.Fatal("pipeline/taste_example_test.go has no BEGIN taste / END taste markers")
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if got := code; got != want.String() {
		t.Errorf("README's taste differs from Example_taste:\nREADME:\n%s\nExample:\n%s", got, want.String())
	}
}
