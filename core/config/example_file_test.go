package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

const exampleFile = "../../config.example.toml"

// TestExampleIsDefault keeps config.example.toml honest: it must load, and
// the values it shows must be the defaults.
func TestExampleIsDefault(t *testing.T) {
	t.Parallel()
	got, err := Load(exampleFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs from Default():\n got %+v\nwant %+v", exampleFile, got, want)
	}
}

// TestExampleHasEveryKey keeps config.example.toml complete: every key of
// Config is written out. (Load already rejects keys Config lacks.)
func TestExampleHasEveryKey(t *testing.T) {
	t.Parallel()
	var raw map[string]any
	md, err := toml.DecodeFile(exampleFile, &raw)
	if err != nil {
		t.Fatal(err)
	}
	inFile := map[string]bool{}
	for _, k := range md.Keys() {
		inFile[k.String()] = true
	}
	for _, l := range schemaOf().leaves {
		if !inFile[l.key] {
			t.Errorf("%s does not show key %s", exampleFile, l.key)
		}
	}
}

// TestEveryFieldDocumented checks that every field of every struct in
// config.go has a doc comment, since the comments are the reference for
// each key.
func TestEveryFieldDocumented(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		for _, field := range st.Fields.List {
			if field.Doc == nil {
				for _, name := range field.Names {
					t.Errorf("%s.%s has no doc comment", ts.Name.Name, name.Name)
				}
			}
		}
		return true
	})
}
