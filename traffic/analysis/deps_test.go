package analysis_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoCloudImports enforces the design rule that traffic/analysis does
// not import cloud.google.com/go/... (backends live in sub-packages).
func TestNoCloudImports(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "cloud.google.com/") || strings.HasPrefix(path, "google.golang.org/grpc") {
				t.Errorf("%s imports %s; package analysis must not depend on cloud SDKs", f, path)
			}
		}
	}
}
