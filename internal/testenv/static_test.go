package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestEverySkipGoesThroughTestenv: outside this package no Go file of the
// repository calls Skip, Skipf or SkipNow on a test, or testing.Short,
// directly: those go through Skip and SkipShort, so strict mode sees them.
// (The gate in make test catches a direct skip at run time too; this finds
// it in any run, and in code a run did not reach.)
func TestEverySkipGoesThroughTestenv(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || path == filepath.Join(root, "internal", "testenv")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, _ := sel.X.(*ast.Ident)
			switch name := sel.Sel.Name; {
			case (name == "Skip" || name == "Skipf" || name == "SkipNow") && (x == nil || x.Name != "testenv"):
				t.Errorf("%s: %s called directly: use testenv.Skip (or a testenv.Require helper)", fset.Position(call.Pos()), name)
			case name == "Short" && x != nil && x.Name == "testing":
				t.Errorf("%s: testing.Short called directly: use testenv.SkipShort", fset.Position(call.Pos()))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
