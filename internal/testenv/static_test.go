package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEverySkipGoesThroughTestenv: outside this package no Go file of the
// repository calls Skip, Skipf or SkipNow on a test, or testing.Short,
// directly: those go through Skip and SkipShort, so strict mode sees them.
// (The gate in make test catches a direct skip at run time too; this finds
// it in any run, and in code a run did not reach.)
// Every Debian package a RequireProgram or RequireFile call names is in
// scripts/deps.sh's test list, as their message says.
func TestEverySkipGoesThroughTestenv(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	named := map[string][]string{} // Debian package named by a Require call → where
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
			if x != nil && x.Name == "testenv" && (sel.Sel.Name == "RequireProgram" || sel.Sel.Name == "RequireFile") && len(call.Args) == 3 {
				if lit, ok := call.Args[2].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					named[strings.Trim(lit.Value, "`\"")] = append(named[strings.Trim(lit.Value, "`\"")], fset.Position(call.Pos()).String())
				}
			}
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
	// What the Require helpers promise: scripts/deps.sh test installs it.
	deps, err := os.ReadFile(filepath.Join(root, "scripts", "deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	list := depsTestList(string(deps))
	if len(list) == 0 {
		t.Fatal("no test=( ... ) list found in scripts/deps.sh")
	}
	for pkg, where := range named {
		if !list[pkg] {
			t.Errorf("%s: Debian package %s is not in scripts/deps.sh's test list", strings.Join(where, ", "), pkg)
		}
	}
}

// depsTestList returns the package names (each alternative of "a|b") in
// deps.sh's test=( ... ) array.
func depsTestList(script string) map[string]bool {
	_, rest, ok := strings.Cut(script, "\ntest=(\n")
	if !ok {
		return nil
	}
	body, _, _ := strings.Cut(rest, "\n)\n")
	out := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, w := range strings.Fields(line) {
			for _, p := range strings.Split(strings.Trim(w, "'"), "|") {
				out[p] = true
			}
		}
	}
	return out
}
