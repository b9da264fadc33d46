"""The code each accumulated program carries: save/restore of values, showing a result.

Source text only (used by ``notebook_program``). Every piece writes under
``/workspace/.dockerkernel/<language>/`` and sends a trailing expression's value as a
``result`` frame signed with ``$DK_NONCE`` (see ``protocol.py``), like ``incontainer/display``.
Names start with ``dk`` so they stay out of the user's way.
"""

# ---- C++ ---------------------------------------------------------------------------------------
# codec<T>: a text codec and the spelling of T, for the types that carry; anything else is
# named on stderr (dk::save) and not carried.
CPP = r'''
#include <fstream>
#include <deque>
#include <list>
#include <array>
#include <tuple>
#include <optional>
#include <unordered_set>
#include <type_traits>
#include <typeinfo>
#include <charconv>
#include <cxxabi.h>
#include <unistd.h>
#include <sys/stat.h>
namespace dk {
inline std::string dir() { return "/workspace/.dockerkernel/cpp/"; }
inline std::string demangle(const char* n) { int st = 0; char* d = abi::__cxa_demangle(n, nullptr, nullptr, &st); std::string r = st == 0 && d ? d : n; std::free(d); return r; }
template <class T, class = void> struct codec { static constexpr bool ok = false; };
template <class T> struct codec<T, std::enable_if_t<std::is_arithmetic_v<T>>> {
  static constexpr bool ok = true;
  static std::string name() {
    if constexpr (std::is_same_v<T, bool>) return "bool";
    else if constexpr (std::is_same_v<T, char>) return "char";
    else if constexpr (std::is_same_v<T, signed char>) return "signed char";
    else if constexpr (std::is_same_v<T, unsigned char>) return "unsigned char";
    else if constexpr (std::is_same_v<T, short>) return "short";
    else if constexpr (std::is_same_v<T, unsigned short>) return "unsigned short";
    else if constexpr (std::is_same_v<T, int>) return "int";
    else if constexpr (std::is_same_v<T, unsigned>) return "unsigned";
    else if constexpr (std::is_same_v<T, long>) return "long";
    else if constexpr (std::is_same_v<T, unsigned long>) return "unsigned long";
    else if constexpr (std::is_same_v<T, long long>) return "long long";
    else if constexpr (std::is_same_v<T, unsigned long long>) return "unsigned long long";
    else if constexpr (std::is_same_v<T, float>) return "float";
    else if constexpr (std::is_same_v<T, double>) return "double";
    else if constexpr (std::is_same_v<T, long double>) return "long double";
    else return demangle(typeid(T).name());
  }
  static void put(std::ostream& o, const T& v) {
    if constexpr (std::is_floating_point_v<T>) { char b[64]; std::snprintf(b, sizeof b, "%La", (long double)v); o << b << ' '; }
    else if constexpr (std::is_signed_v<T>) o << (long long)v << ' ';
    else o << (unsigned long long)v << ' ';
  }
  static T get(std::istream& i) {
    std::string t; i >> t;
    if constexpr (std::is_floating_point_v<T>) return (T)std::strtold(t.c_str(), nullptr);
    else if constexpr (std::is_signed_v<T>) return (T)std::strtoll(t.c_str(), nullptr, 10);
    else return (T)std::strtoull(t.c_str(), nullptr, 10);
  }
};
template <> struct codec<std::string> {
  static constexpr bool ok = true;
  static std::string name() { return "std::string"; }
  static void put(std::ostream& o, const std::string& v) { o << v.size() << ':' << v << ' '; }
  static std::string get(std::istream& i) { size_t n = 0; char c; i >> n; i.get(c); std::string s(n, '\0'); i.read(&s[0], n); return s; }
};
template <class T> struct seq_codec {
  static void put(std::ostream& o, const T& v) { o << v.size() << ' '; for (const auto& e : v) codec<typename T::value_type>::put(o, e); }
};
#define DK_SEQ(TPL, NAME, ADD) \
template <class E> struct codec<TPL<E>, std::enable_if_t<codec<E>::ok>> : seq_codec<TPL<E>> { \
  static constexpr bool ok = true; \
  static std::string name() { return std::string(NAME "<") + codec<E>::name() + ">"; } \
  static TPL<E> get(std::istream& i) { size_t n = 0; i >> n; TPL<E> r; for (size_t k = 0; k < n; k++) r.ADD(codec<E>::get(i)); return r; } };
DK_SEQ(std::vector, "std::vector", push_back)
DK_SEQ(std::deque, "std::deque", push_back)
DK_SEQ(std::list, "std::list", push_back)
DK_SEQ(std::set, "std::set", insert)
DK_SEQ(std::multiset, "std::multiset", insert)
DK_SEQ(std::unordered_set, "std::unordered_set", insert)
#undef DK_SEQ
template <class A, class B> struct codec<std::pair<A, B>, std::enable_if_t<codec<std::remove_const_t<A>>::ok && codec<B>::ok>> {
  static constexpr bool ok = true;
  static std::string name() { return "std::pair<" + codec<std::remove_const_t<A>>::name() + ", " + codec<B>::name() + ">"; }
  static void put(std::ostream& o, const std::pair<A, B>& v) { codec<std::remove_const_t<A>>::put(o, v.first); codec<B>::put(o, v.second); }
  static std::pair<std::remove_const_t<A>, B> get(std::istream& i) { auto a = codec<std::remove_const_t<A>>::get(i); auto b = codec<B>::get(i); return {a, b}; }
};
#define DK_MAP(TPL, NAME) \
template <class K, class V> struct codec<TPL<K, V>, std::enable_if_t<codec<K>::ok && codec<V>::ok>> { \
  static constexpr bool ok = true; \
  static std::string name() { return std::string(NAME "<") + codec<K>::name() + ", " + codec<V>::name() + ">"; } \
  static void put(std::ostream& o, const TPL<K, V>& v) { o << v.size() << ' '; for (const auto& e : v) { codec<K>::put(o, e.first); codec<V>::put(o, e.second); } } \
  static TPL<K, V> get(std::istream& i) { size_t n = 0; i >> n; TPL<K, V> r; for (size_t k = 0; k < n; k++) { auto a = codec<K>::get(i); auto b = codec<V>::get(i); r.emplace(a, b); } return r; } };
DK_MAP(std::map, "std::map")
DK_MAP(std::unordered_map, "std::unordered_map")
DK_MAP(std::multimap, "std::multimap")
#undef DK_MAP
template <class E, size_t N> struct codec<std::array<E, N>, std::enable_if_t<codec<E>::ok>> {
  static constexpr bool ok = true;
  static std::string name() { return "std::array<" + codec<E>::name() + ", " + std::to_string(N) + ">"; }
  static void put(std::ostream& o, const std::array<E, N>& v) { for (const auto& e : v) codec<E>::put(o, e); }
  static std::array<E, N> get(std::istream& i) { std::array<E, N> r{}; for (auto& e : r) e = codec<E>::get(i); return r; }
};
template <class E> struct codec<std::optional<E>, std::enable_if_t<codec<E>::ok>> {
  static constexpr bool ok = true;
  static std::string name() { return "std::optional<" + codec<E>::name() + ">"; }
  static void put(std::ostream& o, const std::optional<E>& v) { o << (v ? 1 : 0) << ' '; if (v) codec<E>::put(o, *v); }
  static std::optional<E> get(std::istream& i) { int h = 0; i >> h; if (!h) return std::nullopt; return codec<E>::get(i); }
};
template <class... E> struct codec<std::tuple<E...>, std::enable_if_t<(codec<E>::ok && ...)>> {
  static constexpr bool ok = true;
  static std::string name() { std::string r = "std::tuple<"; bool first = true; ((r += (first ? "" : ", ") + codec<E>::name(), first = false), ...); return r + ">"; }
  static void put(std::ostream& o, const std::tuple<E...>& v) { std::apply([&](const auto&... e) { (codec<std::decay_t<decltype(e)>>::put(o, e), ...); }, v); }
  static std::tuple<E...> get(std::istream& i) { return std::tuple<E...>{codec<E>::get(i)...}; }
};

struct entry { std::string type, data; };
inline std::map<std::string, entry>& saved() { static std::map<std::string, entry> m; return m; }
inline std::set<std::string>& dropped() { static std::set<std::string> s; return s; }
template <class T> void save(const char* name, const T& v) {
  using U = std::remove_cv_t<T>;
  if constexpr (codec<U>::ok) {
    std::ostringstream o; codec<U>::put(o, v);
    saved()[name] = entry{codec<U>::name(), o.str()}; dropped().erase(name);
  } else {
    saved().erase(name);
    if (dropped().insert(name).second)
      std::fprintf(stderr, "dockerkernel: %s (%s) is not carried to the next cell: only numbers, strings and standard containers of them are\n", name, demangle(typeid(U).name()).c_str());
  }
}
template <class T> T load(const char* name) {
  std::ifstream f(dir() + name + ".dat", std::ios::binary);
  if (!f) { std::fprintf(stderr, "dockerkernel: the saved value of %s is missing; it starts empty\n", name); return T{}; }
  return codec<T>::get(f);
}
inline void finish() {
  std::cout.flush(); std::fflush(nullptr);
  mkdir("/workspace/.dockerkernel", 0755); mkdir(dir().c_str(), 0755);
  std::ofstream h(dir() + "state.hpp.tmp");
  h << "// written by the previous cell's program: the variables it carried\n";
  for (auto& [name, e] : saved()) {
    std::ofstream(dir() + name + ".dat", std::ios::binary) << e.data;
    h << e.type << " " << name << " = dk::load<" << e.type << ">(\"" << name << "\");\n";
  }
  h << "inline void dk_save_carried() {";
  for (auto& [name, e] : saved()) h << " dk::save(\"" << name << "\", " << name << ");";
  h << " }\n";
  h.close();
  std::rename((dir() + "state.hpp.tmp").c_str(), (dir() + "state.hpp").c_str());
}

inline std::string json_string(const std::string& s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { r += '\\'; r += (char)c; }
    else if (c == '\n') r += "\\n"; else if (c == '\t') r += "\\t"; else if (c == '\r') r += "\\r";
    else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); r += b; }
    else r += (char)c;
  }
  return r + "\"";
}
inline std::string quoted(const std::string& s) {
  std::string r = "\"";
  for (char c : s) { if (c == '"' || c == '\\') r += '\\'; if (c == '\n') { r += "\\n"; continue; } r += c; }
  return r + "\"";
}
template <class T, class = void> struct streamable : std::false_type {};
template <class T> struct streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>> : std::true_type {};
template <class T, class = void> struct iterable : std::false_type {};
template <class T> struct iterable<T, std::void_t<decltype(std::begin(std::declval<const T&>())), decltype(std::end(std::declval<const T&>()))>> : std::true_type {};
template <class T, class = void> struct pairlike : std::false_type {};
template <class T> struct pairlike<T, std::void_t<decltype(std::declval<const T&>().first), decltype(std::declval<const T&>().second)>> : std::true_type {};
template <class T> std::string repr(const T& v) {
  using U = std::decay_t<T>;
  if constexpr (std::is_same_v<U, bool>) return v ? "true" : "false";
  else if constexpr (std::is_same_v<U, char>) return std::string("'") + v + "'";
  else if constexpr (std::is_floating_point_v<U>) { char b[64]; auto r = std::to_chars(b, b + sizeof b, v); return std::string(b, r.ptr); }
  else if constexpr (std::is_arithmetic_v<U>) return std::to_string(v);
  else if constexpr (std::is_same_v<U, std::string> || std::is_same_v<U, const char*> || std::is_same_v<U, char*>) return quoted(v);
  else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) return quoted(v);
  else if constexpr (pairlike<U>::value) return "{" + repr(v.first) + ", " + repr(v.second) + "}";
  else if constexpr (iterable<T>::value && !streamable<U>::value) {
    std::string r = "{"; bool first = true;
    for (const auto& e : v) { r += first ? " " : ", "; first = false; if constexpr (pairlike<std::decay_t<decltype(e)>>::value) r += repr(e.first) + " => " + repr(e.second); else r += repr(e); }
    return r + (first ? "}" : " }");
  }
  else if constexpr (streamable<U>::value) { std::ostringstream o; o << v; return o.str(); }
  else { char b[32]; std::snprintf(b, sizeof b, "@%p", (const void*)&v); return "(" + demangle(typeid(U).name()) + ") " + b; }
}
inline void send(const char* kind, const std::string& text) {
  const char* nonce = std::getenv("DK_NONCE");
  std::cout.flush(); std::fflush(nullptr);
  if (!nonce) { std::printf("%s\n", text.c_str()); return; }
  std::string body = "{\"data\":{\"text/plain\":" + json_string(text) + "},\"metadata\":{}}";
  std::string frame = std::string("\x1b" "DK ") + nonce + " " + kind + " " + std::to_string(body.size()) + "\n" + body;
  for (size_t off = 0; off < frame.size();) { ssize_t w = ::write(1, frame.data() + off, frame.size() - off); if (w <= 0) break; off += (size_t)w; }
}
template <class F> void show(F f) {
  if constexpr (std::is_void_v<decltype(f())>) f();
  else { const auto& v = f(); send("result", repr(v)); }
}
}  // namespace dk
'''

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
GO_IMPORTS = 'import (\n\tdkbytes "bytes"\n\tdkgob "encoding/gob"\n\tdkjson "encoding/json"\n\tdkfmt "fmt"\n\tdkos "os"\n\tdkreflect "reflect"\n\tdkregexp "regexp"\n\tdksort "sort"\n\tdkstrings "strings"\n)\n'
GO = r'''
const dkDir = "/workspace/.dockerkernel/go/"

type dkEntry struct{ typ string; pkgs []string; data []byte }

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

func dkHidden(t dkreflect.Type, seen map[dkreflect.Type]bool) string {
	if seen[t] {
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

func dkSave(name string, v interface{}) {
	var buf dkbytes.Buffer
	t := dkreflect.TypeOf(v)
	err := error(nil)
	if t == nil {
		err = dkfmt.Errorf("it is an untyped nil")
	} else if hidden := dkHidden(t, map[dkreflect.Type]bool{}); hidden != "" {
		err = dkfmt.Errorf("%s", hidden)
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
	dkSaved[name] = dkEntry{dkMainRe.ReplaceAllString(t.String(), ""), list, buf.Bytes()}
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

func dkFinish() {
	dkos.MkdirAll(dkDir, 0o755)
	names := []string{}
	imports := map[string]bool{}
	for name, e := range dkSaved {
		names = append(names, name)
		for _, p := range e.pkgs {
			imports[p] = true
		}
		dkos.WriteFile(dkDir+name+".gob", e.data, 0o644)
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
		dkfmt.Fprintf(&b, "\tdkLoad(%q, &%s)\n", name, name)
	}
	b.WriteString("}\nfunc dkSaveCarried() {\n")
	for _, name := range names {
		dkfmt.Fprintf(&b, "\tdkSave(%q, %s)\n", name, name)
	}
	b.WriteString("}\n")
	dkos.WriteFile(dkDir+"dkvars.go.tmp", []byte(b.String()), 0o644)
	dkos.Rename(dkDir+"dkvars.go.tmp", dkDir+"dkvars.go")
}

func dkShow(vs ...interface{}) {
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
RUST = r'''
const DK_DIR: &str = "/workspace/.dockerkernel/rust/";
trait DkCodec: Sized {
    fn dk_put(&self, out: &mut String);
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self>;
    fn dk_type() -> String;
}
macro_rules! dk_number {
    ($($t:ty),*) => { $(impl DkCodec for $t {
        fn dk_put(&self, out: &mut String) { out.push_str(&self.to_string()); out.push(' '); }
        fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { inp.next()?.parse().ok() }
        fn dk_type() -> String { stringify!($t).to_string() }
    })* };
}
dk_number!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, bool);
impl DkCodec for f64 {
    fn dk_put(&self, out: &mut String) { out.push_str(&self.to_bits().to_string()); out.push(' '); }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { Some(f64::from_bits(inp.next()?.parse().ok()?)) }
    fn dk_type() -> String { "f64".to_string() }
}
impl DkCodec for f32 {
    fn dk_put(&self, out: &mut String) { out.push_str(&self.to_bits().to_string()); out.push(' '); }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { Some(f32::from_bits(inp.next()?.parse().ok()?)) }
    fn dk_type() -> String { "f32".to_string() }
}
impl DkCodec for char {
    fn dk_put(&self, out: &mut String) { out.push_str(&(*self as u32).to_string()); out.push(' '); }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { char::from_u32(inp.next()?.parse().ok()?) }
    fn dk_type() -> String { "char".to_string() }
}
fn dk_hex(s: &str, out: &mut String) { if s.is_empty() { out.push('-'); } for b in s.bytes() { out.push_str(&format!("{:02x}", b)); } out.push(' '); }
fn dk_unhex(t: &str) -> Option<String> {
    if t == "-" { return Some(String::new()); }
    let bytes: Option<Vec<u8>> = (0..t.len()).step_by(2).map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}
impl DkCodec for String {
    fn dk_put(&self, out: &mut String) { dk_hex(self, out); }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { dk_unhex(inp.next()?) }
    fn dk_type() -> String { "String".to_string() }
}
impl DkCodec for &'static str {
    fn dk_put(&self, out: &mut String) { dk_hex(self, out); }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { Some(Box::leak(dk_unhex(inp.next()?)?.into_boxed_str())) }
    fn dk_type() -> String { "&'static str".to_string() }
}
impl<T: DkCodec> DkCodec for Option<T> {
    fn dk_put(&self, out: &mut String) { match self { Some(v) => { out.push_str("1 "); v.dk_put(out); } None => out.push_str("0 ") } }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { if inp.next()? == "1" { Some(Some(T::dk_get(inp)?)) } else { Some(None) } }
    fn dk_type() -> String { format!("Option<{}>", T::dk_type()) }
}
macro_rules! dk_seq {
    ($name:literal, $($t:ident)::+, $add:ident $(, $bound:path)*) => {
        impl<T: DkCodec $(+ $bound)*> DkCodec for $($t)::+<T> {
            fn dk_put(&self, out: &mut String) { out.push_str(&self.len().to_string()); out.push(' '); for v in self.iter() { v.dk_put(out); } }
            fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> {
                let n: usize = inp.next()?.parse().ok()?; let mut r = $($t)::+::new();
                for _ in 0..n { r.$add(T::dk_get(inp)?); } Some(r)
            }
            fn dk_type() -> String { format!("{}<{}>", $name, T::dk_type()) }
        }
    };
}
dk_seq!("Vec", std::vec::Vec, push);
dk_seq!("std::collections::VecDeque", std::collections::VecDeque, push_back);
dk_seq!("std::collections::HashSet", std::collections::HashSet, insert, std::hash::Hash, Eq);
dk_seq!("std::collections::BTreeSet", std::collections::BTreeSet, insert, Ord);
macro_rules! dk_map {
    ($name:literal, $t:ident $(, $bound:path)*) => {
        impl<K: DkCodec $(+ $bound)*, V: DkCodec> DkCodec for std::collections::$t<K, V> {
            fn dk_put(&self, out: &mut String) { out.push_str(&self.len().to_string()); out.push(' '); for (k, v) in self.iter() { k.dk_put(out); v.dk_put(out); } }
            fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> {
                let n: usize = inp.next()?.parse().ok()?; let mut r = std::collections::$t::new();
                for _ in 0..n { let k = K::dk_get(inp)?; let v = V::dk_get(inp)?; r.insert(k, v); } Some(r)
            }
            fn dk_type() -> String { format!("{}<{}, {}>", $name, K::dk_type(), V::dk_type()) }
        }
    };
}
dk_map!("std::collections::HashMap", HashMap, std::hash::Hash, Eq);
dk_map!("std::collections::BTreeMap", BTreeMap, Ord);
macro_rules! dk_tuple {
    ($($n:ident),*) => {
        impl<$($n: DkCodec),*> DkCodec for ($($n,)*) {
            #[allow(non_snake_case)]
            fn dk_put(&self, out: &mut String) { let ($($n,)*) = self; $($n.dk_put(out);)* }
            fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> { Some(($($n::dk_get(inp)?,)*)) }
            fn dk_type() -> String { let v: Vec<String> = vec![$($n::dk_type()),*]; format!("({},)", v.join(", ")) }
        }
    };
}
dk_tuple!(A, B);
dk_tuple!(A, B, C);
dk_tuple!(A, B, C, D);
fn dk_dir() { let _ = std::fs::create_dir_all(DK_DIR); }
fn dk_load<T: DkCodec>(name: &str) -> T {
    let text = std::fs::read_to_string(format!("{}{}.dat", DK_DIR, name)).unwrap_or_default();
    match T::dk_get(&mut text.split_ascii_whitespace()) {
        Some(v) => v,
        None => panic!("dockerkernel: the saved value of {} could not be read", name),
    }
}
struct DkGone(&'static str, &'static str);
impl std::fmt::Debug for DkGone {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { write!(f, "<{} was not carried to this cell: {}>", self.0, self.1) }
}
fn dk_gone(name: &'static str, why: &'static str) -> DkGone { DkGone(name, why) }
fn dk_type_name<T>() -> String { std::any::type_name::<T>().replace("cell::main::", "").replace("cell::", "") }
fn dk_forget(name: &str, why: &str) {
    dk_dir();
    let _ = std::fs::write(format!("{}{}.rs", DK_DIR, name), format!("dk_gone({:?}, {:?})", name, why));
    eprintln!("dockerkernel: {} is not carried to the next cell: {}", name, why);
}
struct DkSave<'a, T>(&'a str, &'a T);
trait DkSaveCarried { fn dk_save(&self); }
impl<'a, T: DkCodec + 'static> DkSaveCarried for DkSave<'a, T> {
    fn dk_save(&self) {
        dk_dir();
        let mut out = String::new();
        self.1.dk_put(&mut out);
        let _ = std::fs::write(format!("{}{}.dat", DK_DIR, self.0), out);
        // an i32 or f64 nobody gave a type to comes back as a literal, so that the next cell's
        // use decides its type as it would have in one program (`let base = 7;` then `square(base)`)
        let any: &dyn std::any::Any = self.1;
        let restore = match (any.downcast_ref::<i32>(), any.downcast_ref::<f64>()) {
            (Some(v), _) => format!("{}", v),
            (_, Some(v)) if v.is_finite() => format!("{:?}", v),
            _ => format!("dk_load::<{}>(\"{}\")", T::dk_type(), self.0),
        };
        let _ = std::fs::write(format!("{}{}.rs", DK_DIR, self.0), restore);
    }
}
trait DkSaveNot { fn dk_save(&self); }
impl<'a, T> DkSaveNot for &DkSave<'a, T> {
    fn dk_save(&self) {
        let previous = std::fs::read_to_string(format!("{}{}.rs", DK_DIR, self.0)).unwrap_or_default();
        if !previous.starts_with("dk_gone") {
            dk_forget(self.0, &format!("its type {} is not one that carries (numbers, bool, char, strings, Vec, Option, tuples, maps and sets of them)", dk_type_name::<T>()));
        }
    }
}
struct DkShow<'a, T>(&'a T);
trait DkShowDebug { fn dk_show(&self); }
impl<'a, T: std::fmt::Debug> DkShowDebug for DkShow<'a, T> {
    fn dk_show(&self) { if std::any::type_name::<T>() != "()" { dk_send(&format!("{:?}", self.0)); } }
}
trait DkShowOther { fn dk_show(&self); }
impl<'a, T> DkShowOther for &DkShow<'a, T> {
    fn dk_show(&self) { dk_send(&format!("<{}>", dk_type_name::<T>())); }
}
fn dk_send(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let nonce = std::env::var("DK_NONCE").unwrap_or_default();
    if nonce.is_empty() { println!("{}", text); return; }
    let mut body = String::from("{\"data\":{\"text/plain\":\"");
    for c in text.chars() {
        match c {
            '"' => body.push_str("\\\""), '\\' => body.push_str("\\\\"), '\n' => body.push_str("\\n"),
            c if (c as u32) < 0x20 => body.push_str(&format!("\\u{:04x}", c as u32)),
            c => body.push(c),
        }
    }
    body.push_str("\"},\"metadata\":{}}");
    let frame = format!("\x1bDK {} result {}\n{}", nonce, body.len(), body);
    let _ = std::io::stdout().write_all(frame.as_bytes());
    let _ = std::io::stdout().flush();
}
'''

# ---- Java --------------------------------------------------------------------------------------
JAVA = r'''
    interface DkBlock { void run() throws Throwable; }
    interface DkValue<T> { T get() throws Throwable; }
    static void dkFail(Throwable e) {
        System.out.flush();
        System.err.print("Exception in thread \"main\" ");
        e.printStackTrace();
        System.err.flush();
        Runtime.getRuntime().halt(1);
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
