"""The code each accumulated program carries: save/restore of values, showing a result.

Source text only (used by ``notebook_program``). Every piece writes under
``/workspace/.dockerkernel/<language>/`` and sends a trailing expression's value as a
``result`` frame signed with ``$DK_NONCE`` (see ``protocol.py``), like ``incontainer/display``.
Names start with ``dk`` so they stay out of the user's way.
"""

# ---- C++ ---------------------------------------------------------------------------------------
# The C++ runtime (dk::codec, dk::save, dk::show, ...) lives in images/cpp/dkprelude.hpp, which
# the image precompiles; a notebook program includes it first.
CPP_INCLUDE = '#include "/opt/dockerkernel/cpp/dkprelude.hpp"\n'

# ---- C -----------------------------------------------------------------------------------------
C = r'''
#include <sys/stat.h>
__attribute__((unused)) static void dk_path(char *out, size_t n, const char *name, const char *ext) { snprintf(out, n, "/workspace/.dockerkernel/c/%s.%s", name, ext); }
__attribute__((unused)) static void dk_save_raw(const char *name, const void *p, size_t size) {
  char path[512]; FILE *f; mkdir("/workspace/.dockerkernel", 0755); mkdir("/workspace/.dockerkernel/c", 0755);
  dk_path(path, sizeof path, name, "bin"); f = fopen(path, "wb");
  if (f) { fwrite(p, 1, size, f); fclose(f); }
}
__attribute__((unused)) static void dk_load_raw(const char *name, void *p, size_t size) {
  char path[512]; FILE *f; dk_path(path, sizeof path, name, "bin"); f = fopen(path, "rb");
  if (!f || fread(p, 1, size, f) != size) fprintf(stderr, "dockerkernel: the saved value of %s is missing; it starts at zero\n", name);
  if (f) fclose(f);
}
__attribute__((unused)) static void dk_save_str(const char *name, const char *s) {
  if (s) dk_save_raw(name, s, strlen(s) + 1);
  else { char path[512]; dk_path(path, sizeof path, name, "bin"); remove(path); }
}
__attribute__((unused)) static char *dk_load_str(const char *name) {
  char path[512]; FILE *f; long n; char *s; dk_path(path, sizeof path, name, "bin"); f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END); n = ftell(f); fseek(f, 0, SEEK_SET);
  s = malloc(n > 0 ? n : 1); if (n <= 0 || fread(s, 1, n, f) != (size_t)n) s[0] = 0;
  fclose(f); return s;
}
'''

# ---- Go ----------------------------------------------------------------------------------------
GO_IMPORTS = 'import (\n\tdkbase64 "encoding/base64"\n\tdkbytes "bytes"\n\tdkencoding "encoding"\n\tdkgob "encoding/gob"\n\tdkjson "encoding/json"\n\tdkfmt "fmt"\n\tdkos "os"\n\tdkreflect "reflect"\n\tdkregexp "regexp"\n\tdkruntime "runtime"\n\tdksort "sort"\n\tdkstrconv "strconv"\n\tdkstrings "strings"\n\tdktime "time"\n\tdkunsafe "unsafe"\n)\n'
# gophernotes' `$ cmd args` lines (notebook_program._go_shell_lines): only a cell with one
# imports os/exec
GO_SHELL_IMPORT = 'import dkexec "os/exec"\n'
GO_SHELL = r'''
func dkShell(line string) {
	args := dkstrings.Fields(line)
	if len(args) == 0 {
		return
	}
	cmd := dkexec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = dkos.Stdout, dkos.Stderr
	if err := cmd.Run(); err != nil {
		panic(dkfmt.Sprintf("$ %s: %v", line, err))
	}
}
'''
# an image.Image shown as a PNG: only a notebook that imports an image package links it
GO_IMAGE_IMPORT = 'import (\n\tdkimage "image"\n\tdkpng "image/png"\n)\n'
GO_IMAGE = r'''
func init() {
	dkImageRich = func(v interface{}) dkMIMEBundle {
		img, ok := v.(dkimage.Image)
		if !ok {
			return nil
		}
		var buf dkbytes.Buffer
		if dkpng.Encode(&buf, img) != nil {
			return nil
		}
		return dkMIMEBundle{"image/png": dkbase64.StdEncoding.EncodeToString(buf.Bytes()),
			"text/plain": dkfmt.Sprintf("<image %v>", img.Bounds())}
	}
}
'''
GO = r'''
const dkDir = "/workspace/.dockerkernel/go/"

// zero: the variable holds its type's zero value (a nil pointer, map, slice, func, or a nil
// error): declared in the next cell and not loaded, it is that zero value again
type dkEntry struct{ typ string; pkgs []string; data []byte; deep, zero bool }

var dkSaved = map[string]dkEntry{}
var dkDropped = map[string]bool{}
var dkMainRe = dkregexp.MustCompile(`\bmain\.`)

func dkPkgs(t dkreflect.Type, out map[string]bool) {
	if t.PkgPath() != "" && t.PkgPath() != "main" {
		out[t.PkgPath()] = true
	}
	switch t.Kind() {
	case dkreflect.Slice, dkreflect.Array, dkreflect.Ptr, dkreflect.Chan:
		dkPkgs(t.Elem(), out)
	case dkreflect.Map:
		dkPkgs(t.Key(), out)
		dkPkgs(t.Elem(), out)
	}
}

// a type that encodes itself (time.Time, big.Int: GobEncoder, BinaryMarshaler, TextMarshaler) is
// gob's to carry, unexported fields and all
var dkSelfEncoding = []dkreflect.Type{
	dkreflect.TypeOf((*dkgob.GobEncoder)(nil)).Elem(),
	dkreflect.TypeOf((*dkencoding.BinaryMarshaler)(nil)).Elem(),
	dkreflect.TypeOf((*dkencoding.TextMarshaler)(nil)).Elem(),
}

func dkEncodesItself(t dkreflect.Type) bool {
	for _, i := range dkSelfEncoding {
		if t.Implements(i) || dkreflect.PtrTo(t).Implements(i) {
			return true
		}
	}
	return false
}

// dkProcessBound names a channel or func field that gob would silently leave nil (it skips
// such fields), or "": such a value is not carried rather than carried wrong
func dkProcessBound(t dkreflect.Type, seen map[dkreflect.Type]bool) string {
	if seen[t] || dkEncodesItself(t) {
		return ""
	}
	seen[t] = true
	switch t.Kind() {
	case dkreflect.Slice, dkreflect.Array, dkreflect.Ptr, dkreflect.Map:
		return dkProcessBound(t.Elem(), seen)
	case dkreflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if k := f.Type.Kind(); k == dkreflect.Chan || k == dkreflect.Func {
				return dkfmt.Sprintf("its field %s (%v) lives only as long as the cell's process", f.Name, f.Type)
			}
			if h := dkProcessBound(f.Type, seen); h != "" {
				return h
			}
		}
	}
	return ""
}

func dkHidden(t dkreflect.Type, seen map[dkreflect.Type]bool) string {
	if seen[t] || dkEncodesItself(t) {
		return ""
	}
	seen[t] = true
	switch t.Kind() {
	case dkreflect.Slice, dkreflect.Array, dkreflect.Ptr:
		return dkHidden(t.Elem(), seen)
	case dkreflect.Map:
		if h := dkHidden(t.Key(), seen); h != "" {
			return h
		}
		return dkHidden(t.Elem(), seen)
	case dkreflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.PkgPath != "" {
				return dkfmt.Sprintf("field %s of %v is unexported, gob would drop it", f.Name, t)
			}
			if h := dkHidden(f.Type, seen); h != "" {
				return h
			}
		}
	case dkreflect.Interface:
		return "an interface value needs gob.Register"
	}
	return ""
}

// The notebook's own structs keep their fields unexported (`type person struct{ name string }`),
// which gob drops: those values go through dkDeep, a walk of the value by reflection that reads
// and (dkFill) writes unexported fields too. Its tree holds only JSON's types: numbers as exact
// strings, a struct as the list of its fields, a map as a list of pairs, a pointer as a list of
// one (shared pointers become copies; a cycle is refused).
func dkDeep(v dkreflect.Value, path map[uintptr]bool) (interface{}, error) {
	t := v.Type()
	if dkEncodesItself(t) {
		var buf dkbytes.Buffer
		if !v.CanInterface() {
			v = dkreflect.NewAt(t, dkunsafe.Pointer(v.UnsafeAddr())).Elem()
		}
		err := dkgob.NewEncoder(&buf).Encode(v.Interface())
		return buf.Bytes(), err
	}
	switch t.Kind() {
	case dkreflect.Bool:
		return v.Bool(), nil
	case dkreflect.Int, dkreflect.Int8, dkreflect.Int16, dkreflect.Int32, dkreflect.Int64:
		return dkstrconv.FormatInt(v.Int(), 10), nil
	case dkreflect.Uint, dkreflect.Uint8, dkreflect.Uint16, dkreflect.Uint32, dkreflect.Uint64, dkreflect.Uintptr:
		return dkstrconv.FormatUint(v.Uint(), 10), nil
	case dkreflect.Float32, dkreflect.Float64:
		return dkstrconv.FormatFloat(v.Float(), 'g', -1, 64), nil
	case dkreflect.Complex64, dkreflect.Complex128:
		c := v.Complex()
		return []interface{}{dkstrconv.FormatFloat(real(c), 'g', -1, 64), dkstrconv.FormatFloat(imag(c), 'g', -1, 64)}, nil
	case dkreflect.String:
		return v.String(), nil
	case dkreflect.Slice, dkreflect.Map, dkreflect.Ptr:
		if v.IsNil() {
			return nil, nil
		}
	}
	var out []interface{}
	switch t.Kind() {
	case dkreflect.Slice, dkreflect.Array:
		for i := 0; i < v.Len(); i++ {
			e, err := dkDeep(v.Index(i), path)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	case dkreflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			e, err := dkDeep(v.Field(i), path)
			if err != nil {
				return nil, dkfmt.Errorf("field %s: %v", t.Field(i).Name, err)
			}
			out = append(out, e)
		}
	case dkreflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k, err := dkDeep(iter.Key(), path)
			if err != nil {
				return nil, err
			}
			e, err := dkDeep(iter.Value(), path)
			if err != nil {
				return nil, err
			}
			out = append(out, []interface{}{k, e})
		}
	case dkreflect.Ptr:
		if path[v.Pointer()] {
			return nil, dkfmt.Errorf("a pointer cycle")
		}
		path[v.Pointer()] = true
		e, err := dkDeep(v.Elem(), path)
		delete(path, v.Pointer())
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	case dkreflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return nil, dkfmt.Errorf("an interface value (%v) needs its concrete type", t)
	default:
		return nil, dkfmt.Errorf("a %v cannot leave its process", t)
	}
	if out == nil {
		out = []interface{}{}
	}
	return out, nil
}

// dkFill sets v (addressable) from a dkDeep tree read back by encoding/json.
func dkFill(v dkreflect.Value, tree interface{}) error {
	if !v.CanSet() {
		v = dkreflect.NewAt(v.Type(), dkunsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	t := v.Type()
	if dkEncodesItself(t) {
		text, _ := tree.(string)
		data, err := dkbase64Decode(text)
		if err != nil {
			return err
		}
		return dkgob.NewDecoder(dkbytes.NewReader(data)).DecodeValue(v)
	}
	if tree == nil {
		v.Set(dkreflect.Zero(t))
		return nil
	}
	text, _ := tree.(string)
	list, _ := tree.([]interface{})
	var err error
	switch t.Kind() {
	case dkreflect.Bool:
		b, _ := tree.(bool)
		v.SetBool(b)
	case dkreflect.Int, dkreflect.Int8, dkreflect.Int16, dkreflect.Int32, dkreflect.Int64:
		var n int64
		n, err = dkstrconv.ParseInt(text, 10, 64)
		v.SetInt(n)
	case dkreflect.Uint, dkreflect.Uint8, dkreflect.Uint16, dkreflect.Uint32, dkreflect.Uint64, dkreflect.Uintptr:
		var n uint64
		n, err = dkstrconv.ParseUint(text, 10, 64)
		v.SetUint(n)
	case dkreflect.Float32, dkreflect.Float64:
		var f float64
		f, err = dkstrconv.ParseFloat(text, 64)
		v.SetFloat(f)
	case dkreflect.Complex64, dkreflect.Complex128:
		if len(list) == 2 {
			re, _ := dkstrconv.ParseFloat(list[0].(string), 64)
			im, _ := dkstrconv.ParseFloat(list[1].(string), 64)
			v.SetComplex(complex(re, im))
		}
	case dkreflect.String:
		v.SetString(text)
	case dkreflect.Slice:
		v.Set(dkreflect.MakeSlice(t, len(list), len(list)))
		for i, e := range list {
			if err = dkFill(v.Index(i), e); err != nil {
				break
			}
		}
	case dkreflect.Array:
		for i := 0; i < len(list) && i < v.Len() && err == nil; i++ {
			err = dkFill(v.Index(i), list[i])
		}
	case dkreflect.Struct:
		for i := 0; i < len(list) && i < v.NumField() && err == nil; i++ {
			err = dkFill(v.Field(i), list[i])
		}
	case dkreflect.Map:
		v.Set(dkreflect.MakeMap(t))
		for _, pair := range list {
			kv, _ := pair.([]interface{})
			if len(kv) != 2 {
				continue
			}
			k, e := dkreflect.New(t.Key()).Elem(), dkreflect.New(t.Elem()).Elem()
			if err = dkFill(k, kv[0]); err == nil {
				err = dkFill(e, kv[1])
			}
			if err != nil {
				break
			}
			v.SetMapIndex(k, e)
		}
	case dkreflect.Ptr:
		p := dkreflect.New(t.Elem())
		if len(list) == 1 {
			err = dkFill(p.Elem(), list[0])
		}
		v.Set(p)
	}
	return err
}

func dkbase64Decode(text string) ([]byte, error) {
	var data []byte
	err := dkjson.Unmarshal([]byte(dkstrconv.Quote(text)), &data)
	return data, err
}

// dkSave saves the variable *p for the next cell. Through the pointer its static type is
// known: a nil `error` or `*Node` carries as the zero value of that type.
func dkSave(name string, p interface{}) {
	variable := dkreflect.ValueOf(p).Elem()
	switch variable.Kind() {
	case dkreflect.Interface, dkreflect.Ptr, dkreflect.Map, dkreflect.Slice, dkreflect.Func, dkreflect.Chan:
		if variable.IsNil() {
			pkgs := map[string]bool{}
			dkPkgs(variable.Type(), pkgs)
			list := []string{}
			for p := range pkgs {
				list = append(list, p)
			}
			dkSaved[name] = dkEntry{typ: dkMainRe.ReplaceAllString(variable.Type().String(), ""), pkgs: list, zero: true}
			delete(dkDropped, name)
			return
		}
	}
	v := variable.Interface()
	var buf dkbytes.Buffer
	t := dkreflect.TypeOf(v)
	err := error(nil)
	deep := false
	if t == nil {
		err = dkfmt.Errorf("it is an untyped nil")
	} else if t.Kind() == dkreflect.Chan {
		// a channel lives in the process (and its goroutines with it), which ends with the cell
		err = dkfmt.Errorf("a channel lives only as long as the cell's process")
	} else if bound := dkProcessBound(t, map[dkreflect.Type]bool{}); bound != "" {
		err = dkfmt.Errorf("%s", bound)
	} else if hidden := dkHidden(t, map[dkreflect.Type]bool{}); hidden != "" {
		// unexported fields: dkDeep carries them (an interface or a channel still cannot go)
		var tree interface{}
		held := dkreflect.New(t).Elem() // addressable: unexported fields can then be read whole
		held.Set(dkreflect.ValueOf(v))
		tree, err = dkDeep(held, map[uintptr]bool{})
		if err == nil {
			var data []byte
			data, err = dkjson.Marshal(tree)
			buf.Write(data)
			deep = true
		}
	} else {
		err = dkgob.NewEncoder(&buf).Encode(v)
	}
	if err != nil {
		delete(dkSaved, name)
		if !dkDropped[name] {
			dkDropped[name] = true
			dkfmt.Fprintf(dkos.Stderr, "dockerkernel: %s (%v) is not carried to the next cell: %v\n", name, t, err)
		}
		return
	}
	pkgs := map[string]bool{}
	dkPkgs(t, pkgs)
	list := []string{}
	for p := range pkgs {
		list = append(list, p)
	}
	dkSaved[name] = dkEntry{typ: dkMainRe.ReplaceAllString(t.String(), ""), pkgs: list, data: buf.Bytes(), deep: deep}
	delete(dkDropped, name)
}

func dkLoad(name string, into interface{}) {
	data, err := dkos.ReadFile(dkDir + name + ".gob")
	if err == nil {
		err = dkgob.NewDecoder(dkbytes.NewReader(data)).Decode(into)
		if err == nil {
			return
		}
	}
	dkfmt.Fprintf(dkos.Stderr, "dockerkernel: the saved value of %s could not be read (%v); it starts at its zero value\n", name, err)
}

func dkLoadDeep(name string, into interface{}) {
	data, err := dkos.ReadFile(dkDir + name + ".json")
	if err == nil {
		var tree interface{}
		if err = dkjson.Unmarshal(data, &tree); err == nil {
			if err = dkFill(dkreflect.ValueOf(into).Elem(), tree); err == nil {
				return
			}
		}
	}
	dkfmt.Fprintf(dkos.Stderr, "dockerkernel: the saved value of %s could not be read (%v); it starts at its zero value\n", name, err)
}

// goroutines the cell started and that are about to end get up to 200 ms to do so before the
// values are saved and the process exits: in gophernotes they outlive the cell (its process
// stays), here the cell's process ends with main (real notebook: kylekizirian/gonotes, a
// goroutine's deferred "done with for loop")
var dkGoroutinesAtStart = dkruntime.NumGoroutine()

func dkSettle() {
	for i := 0; i < 20 && dkruntime.NumGoroutine() > dkGoroutinesAtStart; i++ {
		dktime.Sleep(10 * dktime.Millisecond)
	}
	// in gophernotes they would go on running into the next cells: named, never silently lost
	if n := dkruntime.NumGoroutine() - dkGoroutinesAtStart; n > 0 {
		what := dkfmt.Sprintf("%d goroutines are", n)
		if n == 1 {
			what = "1 goroutine is"
		}
		dkos.Stdout.Sync()
		dkfmt.Fprintf(dkos.Stderr, "dockerkernel: %s not carried to the next cell: still running when the cell "+
			"ended, stopped with its process\n", what)
	}
}

// gophernotes' cells share one process, so what os.Chdir and os.Setenv do lasts: the working
// directory and the environment a cell leaves are carried (as Python's and Bash's are), as a
// difference from the environment this container started with (dkProcessBase), which the
// carried one is applied over before any variable is loaded (package variables initialise
// before init functions). The kernel's own DK_* variables are not part of it.
var dkProcessBase = dkRestoreProcess()

type dkProcess struct {
	Cwd   string            `json:"cwd"`
	Set   map[string]string `json:"env_set"`
	Unset []string          `json:"env_unset"`
}

func dkEnviron() map[string]string {
	env := map[string]string{}
	for _, kv := range dkos.Environ() {
		if k, v, ok := dkstrings.Cut(kv, "="); ok && !dkstrings.HasPrefix(k, "DK_") {
			env[k] = v
		}
	}
	return env
}

func dkRestoreProcess() map[string]string {
	base := dkEnviron()
	var p dkProcess
	if data, err := dkos.ReadFile(dkDir + "process.json"); err != nil || dkjson.Unmarshal(data, &p) != nil {
		return base
	}
	for k, v := range p.Set {
		dkos.Setenv(k, v)
	}
	for _, k := range p.Unset {
		dkos.Unsetenv(k)
	}
	if p.Cwd != "" {
		if err := dkos.Chdir(p.Cwd); err != nil {
			wd, _ := dkos.Getwd()
			dkfmt.Fprintf(dkos.Stderr, "dockerkernel: the working directory %s of the previous cell does not exist in "+
				"this cell's container (only /workspace is kept between cells); the cell starts in %s\n", p.Cwd, wd)
		}
	}
	return base
}

func dkSaveProcess() {
	p := dkProcess{Set: map[string]string{}, Unset: []string{}}
	p.Cwd, _ = dkos.Getwd()
	now := dkEnviron()
	for k, v := range now {
		if b, ok := dkProcessBase[k]; !ok || b != v {
			p.Set[k] = v
		}
	}
	for k := range dkProcessBase {
		if _, ok := now[k]; !ok {
			p.Unset = append(p.Unset, k)
		}
	}
	dksort.Strings(p.Unset)
	data, _ := dkjson.Marshal(p)
	dkos.WriteFile(dkDir+"process.json", data, 0o644)
}

func dkFinish() {
	dkos.MkdirAll(dkDir, 0o755)
	dkSaveProcess()
	names := []string{}
	imports := map[string]bool{}
	for name, e := range dkSaved {
		names = append(names, name)
		for _, p := range e.pkgs {
			imports[p] = true
		}
		if e.zero {
			continue
		} else if e.deep {
			dkos.WriteFile(dkDir+name+".json", e.data, 0o644)
		} else {
			dkos.WriteFile(dkDir+name+".gob", e.data, 0o644)
		}
	}
	dksort.Strings(names)
	var b dkstrings.Builder
	b.WriteString("// written by the previous cell's program: the variables it carried\npackage main\n")
	for p := range imports {
		dkfmt.Fprintf(&b, "import %q\n", p)
	}
	for _, name := range names {
		dkfmt.Fprintf(&b, "var %s %s\n", name, dkSaved[name].typ)
	}
	b.WriteString("func init() {\n")
	for _, name := range names {
		if dkSaved[name].zero {
			continue // declared above: its zero value is the value
		} else if dkSaved[name].deep {
			dkfmt.Fprintf(&b, "\tdkLoadDeep(%q, &%s)\n", name, name)
		} else {
			dkfmt.Fprintf(&b, "\tdkLoad(%q, &%s)\n", name, name)
		}
	}
	b.WriteString("}\nfunc dkSaveCarried() {\n")
	for _, name := range names {
		dkfmt.Fprintf(&b, "\tdkSave(%q, &%s)\n", name, name)
	}
	b.WriteString("}\n")
	dkos.WriteFile(dkDir+"dkvars.go.tmp", []byte(b.String()), 0o644)
	dkos.Rename(dkDir+"dkvars.go.tmp", dkDir+"dkvars.go")
}

// Rich output as gophernotes gives it: a value whose type has HTML() string, Markdown() string,
// SVG() string, PNG() []byte, ... is shown in that MIME type (gophernotes' HTMLer, Markdowner,
// ...; github.com/gopherdata/gophernotes examples/Display.ipynb); so is a display.Data (the
// package display, images/go/display.go, imported when a cell names it), a display.Renderer
// and a display.SimpleRenderer, recognised here by their shapes. Display(v) shows one at once.
type dkMIMEBundle = map[string]interface{}
type dkData = struct{ Data, Metadata, Transient map[string]interface{} }

// dkRich: the MIME bundle of a value that has one, else nil
func dkRich(v interface{}) dkMIMEBundle {
	switch r := v.(type) {
	case dkData:
		return r.Data
	case interface{ Render() dkData }:
		return r.Render().Data
	case interface{ SimpleRender() map[string]interface{} }:
		return r.SimpleRender()
	case interface{ HTML() string }:
		return dkMIMEBundle{"text/html": r.HTML()}
	case interface{ Markdown() string }:
		return dkMIMEBundle{"text/markdown": r.Markdown()}
	case interface{ SVG() string }:
		return dkMIMEBundle{"image/svg+xml": r.SVG()}
	case interface{ Latex() string }:
		return dkMIMEBundle{"text/latex": r.Latex()}
	case interface{ JavaScript() string }:
		return dkMIMEBundle{"application/javascript": r.JavaScript()}
	case interface{ JSON() map[string]interface{} }:
		return dkMIMEBundle{"application/json": r.JSON()}
	case interface{ PNG() []byte }:
		return dkMIMEBundle{"image/png": dkbase64.StdEncoding.EncodeToString(r.PNG())}
	case interface{ JPEG() []byte }:
		return dkMIMEBundle{"image/jpeg": dkbase64.StdEncoding.EncodeToString(r.JPEG())}
	case interface{ PDF() []byte }:
		return dkMIMEBundle{"application/pdf": dkbase64.StdEncoding.EncodeToString(r.PDF())}
	}
	if dkImageRich != nil {
		return dkImageRich(v)
	}
	return nil
}

// dkImageRich shows an image.Image as a PNG (gophernotes does); set by GO_IMAGE, which a
// program includes only when the notebook imports an image package
var dkImageRich func(v interface{}) dkMIMEBundle

func dkFrame(kind string, bundle dkMIMEBundle) bool {
	nonce := dkos.Getenv("DK_NONCE")
	if nonce == "" {
		return false
	}
	dkos.Stdout.Sync()
	body, err := dkjson.Marshal(map[string]interface{}{"data": bundle, "metadata": map[string]string{}})
	if err != nil {
		return false
	}
	dkos.Stdout.Write([]byte(dkfmt.Sprintf("\x1bDK %s %s %d\n", nonce, kind, len(body)) + string(body)))
	return true
}

// dkDisplayNow is gophernotes' Display(v): v shown at once, in its MIME type when it has one
func dkDisplayNow(v interface{}) error {
	bundle := dkRich(v)
	if bundle == nil {
		bundle = dkMIMEBundle{"text/plain": dkfmt.Sprintf("%v", v)}
	}
	if !dkFrame("display", bundle) {
		dkfmt.Println(bundle["text/plain"])
	}
	return nil
}

// gophernotes (gomacro) shows a trailing receive `<-ch` and map index `m[k]` in their comma-ok
// form, as two values: `0 false` from a closed channel, `#ff0000 true` for a key that is there
func dkRecvOK(c interface{}) []interface{} {
	v, ok := dkreflect.ValueOf(c).Recv()
	return []interface{}{v.Interface(), ok}
}

func dkIsMap(m interface{}) bool { return dkreflect.ValueOf(m).Kind() == dkreflect.Map }

func dkMapIndexOK(m interface{}, k interface{}) []interface{} {
	mv := dkreflect.ValueOf(m)
	kv := dkreflect.ValueOf(k)
	if !kv.IsValid() {
		kv = dkreflect.Zero(mv.Type().Key())
	} else if kv.Type() != mv.Type().Key() && kv.Type().ConvertibleTo(mv.Type().Key()) {
		kv = kv.Convert(mv.Type().Key())
	}
	v := mv.MapIndex(kv)
	if !v.IsValid() {
		return []interface{}{dkreflect.Zero(mv.Type().Elem()).Interface(), false}
	}
	return []interface{}{v.Interface(), true}
}

func dkShow(vs ...interface{}) {
	// a rich value with a nil error (`display.Image(img)`, `display.File(...)`) shows the value
	if len(vs) == 1 || len(vs) == 2 && vs[1] == nil {
		if bundle := dkRich(vs[0]); bundle != nil && dkFrame("result", bundle) {
			return
		}
	}
	parts := []string{}
	for _, v := range vs {
		parts = append(parts, dkfmt.Sprintf("%v", v))
	}
	text := dkstrings.Join(parts, " ")
	nonce := dkos.Getenv("DK_NONCE")
	dkos.Stdout.Sync()
	if nonce == "" {
		dkfmt.Println(text)
		return
	}
	body, _ := dkjson.Marshal(map[string]interface{}{"data": map[string]string{"text/plain": text}, "metadata": map[string]string{}})
	dkos.Stdout.Write([]byte(dkfmt.Sprintf("\x1bDK %s result %d\n", nonce, len(body)) + string(body)))
}
'''

# ---- Rust --------------------------------------------------------------------------------------
# The Rust runtime (DkCodec, DkSave, DkShow, dk_load, ...) is images/rust/dkrt.rs, compiled once in
# the image to libdkrt.rlib; a notebook program imports it and dkbuild.py links it.
RUST_USE = "use dkrt::*;\n"

# ---- Java --------------------------------------------------------------------------------------
JAVA = r'''
    interface DkBlock { void run() throws Throwable; }
    interface DkValue<T> { T get() throws Throwable; }
    static void dkFail(Throwable e) {
        System.out.flush();
        dkTrim(e, java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>()));
        System.err.print("Exception in thread \"main\" ");
        e.printStackTrace();
        System.err.flush();
        Runtime.getRuntime().halt(1);
    }
    // the frames below the program's own (the JDK's, a warm JVM's DkWarm that started it) are
    // not the user's: `java Main` shows none either; causes too, so "... N more" stays right
    static void dkTrim(Throwable t, java.util.Set<Throwable> seen) {
        if (t == null || !seen.add(t)) return;
        StackTraceElement[] f = t.getStackTrace();
        int n = f.length;
        while (n > 0 && (f[n - 1].getModuleName() != null || f[n - 1].getClassName().startsWith("DkWarm"))) n--;
        if (n > 0 && n < f.length) t.setStackTrace(java.util.Arrays.copyOf(f, n));
        dkTrim(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) dkTrim(s, seen);
    }
    static void dkRun(DkBlock b) { try { b.run(); } catch (Throwable e) { dkFail(e); } }
    static <T> T dkInit(DkValue<T> v) { try { return v.get(); } catch (Throwable e) { dkFail(e); return null; } }
    static void dkShow(DkBlock b) { dkRun(b); }
    static void dkShow(DkValue<?> v) { Object[] o = new Object[1]; dkRun(() -> o[0] = v.get()); dkSend(dkRepr(o[0])); }
    static String dkRepr(Object o) {
        if (o == null) return "null";
        if (o instanceof String) return "\"" + ((String) o).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
        if (o instanceof Character) return "'" + o + "'";
        if (o.getClass().isArray()) {
            int n = java.lang.reflect.Array.getLength(o);
            StringBuilder b = new StringBuilder(o.getClass().getComponentType().getSimpleName() + "[" + n + "] {");
            for (int i = 0; i < n; i++) b.append(i == 0 ? " " : ", ").append(dkRepr(java.lang.reflect.Array.get(o, i)));
            return b.append(n == 0 ? "}" : " }").toString();
        }
        return String.valueOf(o);
    }
    static String dkJson(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c == '\n') b.append("\\n");
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
    static void dkSend(String text) {
        System.out.flush();
        String nonce = System.getenv("DK_NONCE");
        if (nonce == null) { System.out.println(text); return; }
        byte[] body = ("{\"data\":{\"text/plain\":" + dkJson(text) + "},\"metadata\":{}}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try {
            java.io.FileOutputStream out = new java.io.FileOutputStream(java.io.FileDescriptor.out);
            out.write(("\u001bDK " + nonce + " result " + body.length + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.write(body);
            out.flush();
        } catch (java.io.IOException e) { /* the kernel is gone */ }
    }
    static void dkSaveAll() throws Exception {
        System.out.flush();
        java.util.Map<String, java.lang.reflect.Field> fields = new java.util.TreeMap<>();
        for (Class<?> c : new Class<?>[] {DkVars.class, Main.class})
            for (java.lang.reflect.Field f : c.getDeclaredFields())
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) && !f.isSynthetic() && !f.getName().startsWith("dk")) fields.put(f.getName(), f);
        java.util.Map<String, Object> values = new java.util.LinkedHashMap<>();
        StringBuilder src = new StringBuilder("// written by the previous cell's program: the variables it carried\nclass DkVars {\n");
        StringBuilder restore = new StringBuilder();
        java.io.File dir = new java.io.File("/workspace/.dockerkernel/java");
        dir.mkdirs();
        java.util.Set<String> notCarried = new java.util.TreeSet<>();
        try (java.io.BufferedReader r = new java.io.BufferedReader(new java.io.FileReader(new java.io.File(dir, "not-carried.txt")))) {
            for (String line; (line = r.readLine()) != null;) notCarried.add(line);
        } catch (java.io.IOException e) { /* first cell */ }
        java.util.Set<String> nowNotCarried = new java.util.TreeSet<>();
        for (java.lang.reflect.Field f : fields.values()) {
            f.setAccessible(true);
            Object v = f.get(null);
            String type = f.getGenericType().getTypeName().replace('$', '.');
            src.append("    static ").append(type).append(' ').append(f.getName()).append(";\n");
            boolean ok = v == null || f.getType().isPrimitive() || v instanceof java.io.Serializable;
            if (ok && v != null && !f.getType().isPrimitive()) {
                try { new java.io.ObjectOutputStream(java.io.OutputStream.nullOutputStream()).writeObject(v); } catch (java.io.IOException e) { ok = false; }
            }
            if (ok) {
                values.put(f.getName(), v);
                String boxed = f.getType().isPrimitive() ? dkBoxed(f.getType()) : type;
                restore.append("        ").append(f.getName()).append(" = (").append(boxed).append(") dkValues.get(\"").append(f.getName()).append("\");\n");
            } else {
                nowNotCarried.add(f.getName());
                if (!notCarried.contains(f.getName()))
                    System.err.println("dockerkernel: " + f.getName() + " (" + type + ") is not carried to the next cell: its value is not Serializable; it starts as null");
            }
        }
        src.append("    @SuppressWarnings(\"unchecked\")\n    static void dkRestore(java.util.Map<String, Object> dkValues) {\n").append(restore).append("    }\n");
        src.append("    static {\n        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.FileInputStream(\"/workspace/.dockerkernel/java/values.ser\"))) {\n");
        src.append("            @SuppressWarnings(\"unchecked\") java.util.Map<String, Object> m = (java.util.Map<String, Object>) in.readObject();\n            dkRestore(m);\n");
        src.append("        } catch (Exception e) { System.err.println(\"dockerkernel: the saved values could not be read: \" + e); }\n    }\n}\n");
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(new java.io.FileOutputStream(new java.io.File(dir, "values.ser")))) { out.writeObject(values); }
        java.nio.file.Files.writeString(new java.io.File(dir, "not-carried.txt").toPath(), String.join("\n", nowNotCarried) + "\n");
        java.nio.file.Files.writeString(new java.io.File(dir, "DkVars.java").toPath(), src);
    }
    static String dkBoxed(Class<?> c) {
        if (c == int.class) return "Integer";
        if (c == char.class) return "Character";
        String n = c.getName();
        return Character.toUpperCase(n.charAt(0)) + n.substring(1);
    }
'''
