// d7y-apicheck reads Go source, never compiles it: the interface a plugin type must implement at the
// pinned Dragonfly commit, and whether a plugin's value implements it, in milliseconds and before
// the long compile. The loader check after the build stays the final word; this one answers what it
// can tell from the syntax and says so when it can't.
//
//	d7y-apicheck iface <dir> <Iface>                          the interface, as JSON
//	d7y-apicheck plugin <dir> <Iface> <import path> <plugin>...  each plugin's value against it, one JSON line each
//
// Standard library only, as of Go 1.15: it is built with every Go the builder image may have.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// pkg is one directory's non-test Go files, as the default build context selects them.
type pkg struct {
	fset    *token.FileSet
	files   []*ast.File
	path    string // import path; "main" for a plugin
	name    string
	imports map[*ast.File]map[string]string // file → local name → import path
}

func load(dir, importPath string) (*pkg, error) {
	// ioutil: os.ReadDir is Go 1.16, and this builds with the Go of Dragonfly v2.0.0 (1.15) too.
	entries, err := ioutil.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &pkg{fset: token.NewFileSet(), path: importPath, imports: map[*ast.File]map[string]string{}}
	ctx := build.Default
	ctx.CgoEnabled = true
	for _, e := range entries {
		name := e.Name()
		if !e.Mode().IsRegular() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(dir, name); err != nil || !ok {
			continue
		}
		f, err := parser.ParseFile(p.fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, f)
		p.name = f.Name.Name
		names := map[string]string{}
		for _, spec := range f.Imports {
			path, _ := strconv.Unquote(spec.Path.Value)
			local := filepath.Base(path)
			if spec.Name != nil {
				local = spec.Name.Name
			} else if strings.HasPrefix(local, "v") && strings.Count(path, "/") > 0 {
				// .../v2 is package <parent>; good enough for the qualifiers signatures use.
				if _, err := strconv.Atoi(local[1:]); err == nil {
					local = filepath.Base(filepath.Dir(path))
				}
			}
			names[local] = path
		}
		p.imports[f] = names
	}
	if len(p.files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	return p, nil
}

// typeSpec finds a type declaration by name, with the file that declares it.
func (p *pkg) typeSpec(name string) (*ast.TypeSpec, *ast.File) {
	for _, f := range p.files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				if ts := s.(*ast.TypeSpec); ts.Name.Name == name {
					return ts, f
				}
			}
		}
	}
	return nil, nil
}

// method is a signature, printed for people and normalised for comparison.
type method struct {
	Name string `json:"name"`
	// Go source of the method as declared: Name(params) results.
	Source string `json:"source"`
	Doc    string `json:"doc,omitempty"`
	// Source with the package's own types qualified by its name (Request → source.Request), for
	// code written outside the package.
	Qualified string `json:"qualified"`
	key       string
	file      *ast.File
	ftype     *ast.FuncType
}

type ifaceOut struct {
	Package string            `json:"package"`
	Methods []method          `json:"methods"`
	Imports map[string]string `json:"imports"`
}

// interfaceMethods lists an interface's methods, embedded interfaces of the same package expanded.
func (p *pkg) interfaceMethods(name string) ([]method, error) {
	ts, file := p.typeSpec(name)
	if ts == nil {
		return nil, fmt.Errorf("no type %s in package %s", name, p.name)
	}
	it, ok := ts.Type.(*ast.InterfaceType)
	if !ok {
		return nil, fmt.Errorf("%s.%s is not an interface", p.name, name)
	}
	var out []method
	for _, field := range it.Methods.List {
		ft, isFunc := field.Type.(*ast.FuncType)
		if !isFunc {
			embedded, ok := field.Type.(*ast.Ident)
			if !ok {
				return nil, fmt.Errorf("%s.%s embeds %s, which d7y-apicheck can't follow", p.name, name, p.print(field.Type))
			}
			more, err := p.interfaceMethods(embedded.Name)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		for _, n := range field.Names {
			out = append(out, p.method(file, n.Name, ft, strings.TrimSpace(field.Doc.Text())))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (p *pkg) method(file *ast.File, name string, ft *ast.FuncType, doc string) method {
	return method{
		Name: name, Source: name + strings.TrimPrefix(p.print(ft), "func"), Doc: doc,
		Qualified: name + p.renderSignature(ft), key: p.signatureKey(file, ft), file: file, ftype: ft,
	}
}

// renderSignature prints (params) results with the package's own type names qualified.
func (p *pkg) renderSignature(ft *ast.FuncType) string {
	s := "(" + p.renderFields(ft.Params) + ")"
	if ft.Results == nil || len(ft.Results.List) == 0 {
		return s
	}
	if len(ft.Results.List) == 1 && len(ft.Results.List[0].Names) == 0 {
		return s + " " + p.render(ft.Results.List[0].Type)
	}
	return s + " (" + p.renderFields(ft.Results) + ")"
}

func (p *pkg) renderFields(fields *ast.FieldList) string {
	if fields == nil {
		return ""
	}
	var parts []string
	for _, f := range fields.List {
		var names []string
		for _, n := range f.Names {
			names = append(names, n.Name)
		}
		if len(names) > 0 {
			parts = append(parts, strings.Join(names, ", ")+" "+p.render(f.Type))
		} else {
			parts = append(parts, p.render(f.Type))
		}
	}
	return strings.Join(parts, ", ")
}

func (p *pkg) render(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		if _, ok := predeclared[t.Name]; ok || t.Name == "interface{}" {
			return t.Name
		}
		return p.name + "." + t.Name
	case *ast.StarExpr:
		return "*" + p.render(t.X)
	case *ast.ArrayType:
		if t.Len == nil {
			return "[]" + p.render(t.Elt)
		}
		return "[" + p.print(t.Len) + "]" + p.render(t.Elt)
	case *ast.MapType:
		return "map[" + p.render(t.Key) + "]" + p.render(t.Value)
	case *ast.Ellipsis:
		return "..." + p.render(t.Elt)
	case *ast.FuncType:
		return "func" + p.renderSignature(t)
	case *ast.ChanType:
		switch t.Dir {
		case ast.SEND:
			return "chan<- " + p.render(t.Value)
		case ast.RECV:
			return "<-chan " + p.render(t.Value)
		}
		return "chan " + p.render(t.Value)
	}
	return p.print(e)
}

func (p *pkg) print(node ast.Node) string {
	var b bytes.Buffer
	_ = printer.Fprint(&b, p.fset, node)
	return b.String()
}

var predeclared = map[string]string{
	"bool": "bool", "byte": "uint8", "uint8": "uint8", "rune": "int32", "int32": "int32", "string": "string",
	"error": "error", "any": "interface{}", "int": "int", "int8": "int8", "int16": "int16", "int64": "int64",
	"uint": "uint", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "uintptr": "uintptr",
	"float32": "float32", "float64": "float64", "complex64": "complex64", "complex128": "complex128",
}

// signatureKey: the parameter and result types with every name resolved to its package path and
// parameter names dropped, so two signatures are the same exactly when their keys are.
func (p *pkg) signatureKey(file *ast.File, ft *ast.FuncType) string {
	return "(" + p.fieldKeys(file, ft.Params) + ")(" + p.fieldKeys(file, ft.Results) + ")"
}

func (p *pkg) fieldKeys(file *ast.File, fields *ast.FieldList) string {
	if fields == nil {
		return ""
	}
	var keys []string
	for _, f := range fields.List {
		n := len(f.Names)
		if n == 0 {
			n = 1
		}
		for i := 0; i < n; i++ {
			keys = append(keys, p.typeKey(file, f.Type))
		}
	}
	return strings.Join(keys, ",")
}

func (p *pkg) typeKey(file *ast.File, e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		if k, ok := predeclared[t.Name]; ok {
			return k
		}
		return p.path + "." + t.Name
	case *ast.SelectorExpr:
		if x, ok := t.X.(*ast.Ident); ok {
			if path, ok := p.imports[file][x.Name]; ok {
				return path + "." + t.Sel.Name
			}
			return x.Name + "." + t.Sel.Name
		}
	case *ast.StarExpr:
		return "*" + p.typeKey(file, t.X)
	case *ast.ArrayType:
		if t.Len == nil {
			return "[]" + p.typeKey(file, t.Elt)
		}
		return "[" + p.print(t.Len) + "]" + p.typeKey(file, t.Elt)
	case *ast.MapType:
		return "map[" + p.typeKey(file, t.Key) + "]" + p.typeKey(file, t.Value)
	case *ast.Ellipsis:
		return "..." + p.typeKey(file, t.Elt)
	case *ast.ChanType:
		return fmt.Sprintf("chan%d ", t.Dir) + p.typeKey(file, t.Value)
	case *ast.FuncType:
		return "func" + p.signatureKey(file, t)
	case *ast.InterfaceType:
		if t.Methods == nil || len(t.Methods.List) == 0 {
			return "interface{}"
		}
	case *ast.ParenExpr:
		return p.typeKey(file, t.X)
	}
	return "?" + p.print(e)
}

type pluginOut struct {
	// The value DragonflyPluginInit returns, e.g. *evaluator; empty when the syntax doesn't tell.
	ValueType string `json:"valueType,omitempty"`
	// Why the check could not decide, when it couldn't.
	Undecided string   `json:"undecided,omitempty"`
	Missing   []method `json:"missing,omitempty"`
	Differing []diff   `json:"differing,omitempty"`
	// Why the plugin could not be read at all (its sources don't parse); nothing else is set then.
	Error string `json:"error,omitempty"`
}

type diff struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
}

// valueType: the named type (and whether by pointer) of the first result of DragonflyPluginInit's returns.
func (p *pkg) valueType() (string, bool, error) {
	var fn *ast.FuncDecl
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = fd
				if fd.Name.Name == "DragonflyPluginInit" {
					fn = fd
				}
			}
		}
	}
	if fn == nil || fn.Body == nil {
		return "", false, errors.New("no DragonflyPluginInit function")
	}
	found, pointer := "", false
	var fail error
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if _, ok := n.(*ast.FuncLit); ok {
			return false
		}
		ret, ok := n.(*ast.ReturnStmt)
		if !ok || len(ret.Results) != 3 || fail != nil {
			return true
		}
		if id, ok := ret.Results[0].(*ast.Ident); ok && id.Name == "nil" {
			return true // the error path
		}
		name, ptr, err := p.exprType(ret.Results[0], fn, funcs)
		switch {
		case err != nil:
			fail = err
		case found == "":
			found, pointer = name, ptr
		case found != name || pointer != ptr:
			fail = errors.New("DragonflyPluginInit returns values of several types")
		}
		return true
	})
	if fail != nil {
		return "", false, fail
	}
	if found == "" {
		return "", false, errors.New("DragonflyPluginInit returns no value d7y-apicheck can follow")
	}
	return found, pointer, nil
}

func (p *pkg) exprType(e ast.Expr, fn *ast.FuncDecl, funcs map[string]*ast.FuncDecl) (string, bool, error) {
	switch x := e.(type) {
	case *ast.UnaryExpr:
		if lit, ok := x.X.(*ast.CompositeLit); ok && x.Op == token.AND {
			if id, ok := lit.Type.(*ast.Ident); ok {
				return id.Name, true, nil
			}
		}
	case *ast.CompositeLit:
		if id, ok := x.Type.(*ast.Ident); ok {
			return id.Name, false, nil
		}
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok {
			if id.Name == "new" && len(x.Args) == 1 {
				if t, ok := x.Args[0].(*ast.Ident); ok {
					return t.Name, true, nil
				}
			}
			if callee := funcs[id.Name]; callee != nil && callee.Type.Results != nil && len(callee.Type.Results.List) > 0 {
				if name, ptr, err := p.declaredType(callee.Type.Results.List[0].Type); err == nil {
					return name, ptr, nil
				}
			}
		}
	case *ast.Ident:
		// A local variable: its declaration in DragonflyPluginInit, one level deep.
		var found ast.Expr
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for i, l := range as.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == x.Name && found == nil {
						found = as.Rhs[i]
					}
				}
			}
			if vs, ok := n.(*ast.ValueSpec); ok && found == nil {
				for i, id := range vs.Names {
					if id.Name == x.Name {
						if vs.Type != nil {
							found = vs.Type
						} else if i < len(vs.Values) {
							found = vs.Values[i]
						}
					}
				}
			}
			return found == nil
		})
		if found != nil && found != e {
			if name, ptr, err := p.declaredType(found); err == nil {
				return name, ptr, nil
			}
			return p.exprType(found, fn, funcs)
		}
	}
	return "", false, fmt.Errorf("DragonflyPluginInit returns %s, whose type d7y-apicheck can't tell from the syntax", p.print(e))
}

// declaredType: typeName, for a type the plugin declares (not an interface such as any).
func (p *pkg) declaredType(e ast.Expr) (string, bool, error) {
	name, ptr, err := typeName(e)
	if err != nil {
		return "", false, err
	}
	if ts, _ := p.typeSpec(name); ts == nil {
		return "", false, fmt.Errorf("%s is not a type of the plugin", name)
	} else if _, isIface := ts.Type.(*ast.InterfaceType); isIface {
		return "", false, fmt.Errorf("%s is an interface", name)
	}
	return name, ptr, nil
}

func typeName(e ast.Expr) (string, bool, error) {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name, false, nil
	case *ast.StarExpr:
		if id, ok := t.X.(*ast.Ident); ok {
			return id.Name, true, nil
		}
	}
	return "", false, errors.New("not a named type")
}

// methodsOf: the methods declared on T (and on *T when pointer), or an error when the type may get
// methods the syntax doesn't show (embedded fields, a non-struct underlying type of another package).
func (p *pkg) methodsOf(name string, pointer bool) (map[string]method, error) {
	ts, _ := p.typeSpec(name)
	if ts == nil {
		return nil, fmt.Errorf("type %s is not declared in the plugin", name)
	}
	if st, ok := ts.Type.(*ast.StructType); ok {
		for _, f := range st.Fields.List {
			if len(f.Names) == 0 {
				return nil, fmt.Errorf("%s embeds %s, whose methods d7y-apicheck does not follow", name, p.print(f.Type))
			}
		}
	} else if _, ok := ts.Type.(*ast.Ident); !ok {
		if _, ok := ts.Type.(*ast.FuncType); !ok {
			if _, ok := ts.Type.(*ast.MapType); !ok {
				if _, ok := ts.Type.(*ast.ArrayType); !ok {
					return nil, fmt.Errorf("%s is a %T, which d7y-apicheck does not follow", name, ts.Type)
				}
			}
		}
	}
	out := map[string]method{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 {
				continue
			}
			recv, ptr, err := typeName(fd.Recv.List[0].Type)
			if err != nil || recv != name || (ptr && !pointer) {
				continue
			}
			out[fd.Name.Name] = p.method(f, fd.Name.Name, fd.Type, "")
		}
	}
	return out, nil
}

// checkDir is checkPlugin on the plugin in dir, with what went wrong as its Error.
func checkDir(iface *pkg, ifaceName string, dir string) pluginOut {
	plugin, err := load(dir, "main")
	if err == nil {
		var out pluginOut
		if out, err = checkPlugin(iface, ifaceName, plugin); err == nil {
			return out
		}
	}
	return pluginOut{Error: err.Error()}
}

func checkPlugin(iface *pkg, ifaceName string, plugin *pkg) (pluginOut, error) {
	want, err := iface.interfaceMethods(ifaceName)
	if err != nil {
		return pluginOut{}, err
	}
	name, pointer, err := plugin.valueType()
	if err != nil {
		return pluginOut{Undecided: err.Error()}, nil
	}
	out := pluginOut{ValueType: name}
	if pointer {
		out.ValueType = "*" + name
	}
	have, err := plugin.methodsOf(name, pointer)
	if err != nil {
		out.Undecided = err.Error()
		return out, nil
	}
	for _, m := range want {
		got, ok := have[m.Name]
		switch {
		case !ok:
			out.Missing = append(out.Missing, m)
		case got.key != m.key:
			out.Differing = append(out.Differing, diff{Name: m.Name, Want: m.Source, Got: got.Source})
		}
	}
	return out, nil
}

func main() {
	err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "d7y-apicheck:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	enc := json.NewEncoder(os.Stdout)
	switch {
	case len(args) == 3 && args[0] == "iface":
		p, err := load(args[1], "")
		if err != nil {
			return err
		}
		methods, err := p.interfaceMethods(args[2])
		if err != nil {
			return err
		}
		used := map[string]string{}
		for _, m := range methods {
			ast.Inspect(m.ftype, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok {
						if path, ok := p.imports[m.file][x.Name]; ok {
							used[x.Name] = path
						}
					}
				}
				return true
			})
		}
		return enc.Encode(ifaceOut{Package: p.name, Methods: methods, Imports: used})
	case len(args) >= 5 && args[0] == "plugin":
		iface, err := load(args[1], args[3])
		if err != nil {
			return err
		}
		// One line per plugin, in order; a plugin that can't be read gets its error, the others their reports.
		for _, dir := range args[4:] {
			if err := enc.Encode(checkDir(iface, args[2], dir)); err != nil {
				return err
			}
		}
		return nil
	}
	return errors.New("usage: d7y-apicheck iface <dir> <Iface> | plugin <dir> <Iface> <import path> <plugin dir>...")
}
