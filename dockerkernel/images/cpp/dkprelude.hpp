// dockerkernel: what every C++ notebook program includes first (precompiled in the image:
// dkprelude.hpp.gch, built with the cells' default flags; other flags fall back to this text).
// The usual headers of a cell, then dk::, the runtime of notebook_program.py (save/restore of
// values, showing a trailing expression).
#pragma once
#include <iostream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>
#include <map>
#include <set>
#include <unordered_map>
#include <algorithm>
#include <numeric>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
using namespace std;

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

// C strings (`auto s = "hi"`, `char* p = buf`) carry their text; the next cell's pointer points
// at a copy (the address could not mean anything in another process)
template <class C> struct cstr_codec {
  static constexpr bool ok = true;
  static void put(std::ostream& o, C v) { if (!v) { o << "-1 "; return; } size_t n = std::strlen(v); o << n << ':'; o.write(v, n); o << ' '; }
  static C get(std::istream& i) {
    long long n = 0; char c; i >> n; if (n < 0) return nullptr; i.get(c);
    char* s = static_cast<char*>(std::malloc(n + 1)); i.read(s, n); s[n] = '\0'; return s;
  }
};
template <> struct codec<const char*> : cstr_codec<const char*> { static std::string name() { return "const char*"; } };
template <> struct codec<char*> : cstr_codec<char*> { static std::string name() { return "char*"; } };
// other pointers carry only when null (`Node* head = nullptr;`), and only as a variable of their
// own (save() checks; ok is false so a container of them is not carried at all)
template <class T> struct codec<T*, std::enable_if_t<!std::is_same_v<std::remove_cv_t<T>, char>>> {
  static constexpr bool ok = false;
  static std::string name() { return demangle(typeid(T*).name()); }
  static void put(std::ostream& o, T*) { o << "null "; }
  static T* get(std::istream&) { return nullptr; }
};
// instances of the notebook's own classes: their bytes, when the class is trivially copyable and
// notebook_program.py found no pointer or reference among its members (it says so with bytes_ok)
template <class T> struct bytes_ok : std::false_type {};
template <class T> struct codec<T, std::enable_if_t<std::is_class_v<T> && std::is_trivially_copyable_v<T> && bytes_ok<T>::value>> {
  static constexpr bool ok = true;
  static std::string name() { return demangle(typeid(T).name()); }
  static void put(std::ostream& o, const T& v) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(&v);
    char b[4]; for (size_t k = 0; k < sizeof(T); k++) { std::snprintf(b, sizeof b, "%02x", p[k]); o << b; } o << ' ';
  }
  static T get(std::istream& i) {
    std::string t; i >> t;
    alignas(T) unsigned char buf[sizeof(T)] = {};
    for (size_t k = 0; k < sizeof(T) && 2 * k + 1 < t.size(); k++) buf[k] = (unsigned char)std::strtoul(t.substr(2 * k, 2).c_str(), nullptr, 16);
    return *std::launder(reinterpret_cast<T*>(buf));
  }
};
// what is declared only after the notebook's own types (state_late.hpp): their instances, and
// pointers to classes
// the notebook's own structs with public data members that are not plain bytes (`struct movie
// { std::string title; int year; }`): notebook_program.py lists the members (fields<T>::each)
template <class T> struct fields { static constexpr bool listed = false; };
template <class T> constexpr bool late() {
  if constexpr (std::is_pointer_v<T>) return std::is_class_v<std::remove_pointer_t<T>>;
  else return std::is_class_v<T> && (bytes_ok<T>::value || fields<T>::listed);
}

// C arrays (`int a[5]`, `int m[3][3]`, `char s[16]`) of what carries: declared again with their
// dimensions and filled in place (an array cannot be initialised from a function's result)
template <class T> void get_into(std::istream& i, T& v);
template <class E, size_t N> struct codec<E[N], std::enable_if_t<codec<E>::ok>> {
  static constexpr bool ok = true;
  static std::string base() { if constexpr (std::is_array_v<E>) return codec<E>::base(); else return codec<E>::name(); }
  static std::string dims() { std::string d = "[" + std::to_string(N) + "]"; if constexpr (std::is_array_v<E>) d += codec<E>::dims(); return d; }
  static std::string name() { return base() + " " + dims(); }
  static void put(std::ostream& o, const E (&v)[N]) { for (size_t k = 0; k < N; k++) codec<E>::put(o, v[k]); }
  static void get_into(std::istream& i, E (&v)[N]) { for (size_t k = 0; k < N; k++) dk::get_into(i, v[k]); }
};
template <class T> void get_into(std::istream& i, T& v) {
  if constexpr (std::is_array_v<T>) codec<T>::get_into(i, v); else v = codec<T>::get(i);
}
template <class T> struct codec<T, std::enable_if_t<fields<T>::listed && !(std::is_trivially_copyable_v<T> && bytes_ok<T>::value)
                                                    && fields<T>::carry>> {
  static constexpr bool ok = true;
  static std::string name() { return demangle(typeid(T).name()); }
  static void put(std::ostream& o, const T& v) {
    fields<T>::each(const_cast<T&>(v), [&](auto& f) { codec<std::remove_cv_t<std::remove_reference_t<decltype(f)>>>::put(o, f); });
  }
  static T get(std::istream& i) { T v{}; fields<T>::each(v, [&](auto& f) { dk::get_into(i, f); }); return v; }
};

struct entry { std::string type, data, dims; bool late = false; bool constant = false; };
inline std::map<std::string, entry>& saved() { static std::map<std::string, entry> m; return m; }
inline std::set<std::string>& dropped() { static std::set<std::string> s; return s; }
template <class T> void save(const char* name, const T& v) {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_pointer_v<U> && !codec<U>::ok) {
    if (v == nullptr) {
      saved()[name] = entry{codec<U>::name(), "null ", "", late<U>()};
      dropped().erase(name);
    } else {
      saved().erase(name);
      if (dropped().insert(name).second)
        std::fprintf(stderr, "dockerkernel: %s (%s) is not carried to the next cell: a pointer carries only when it is null\n", name, codec<U>::name().c_str());
    }
  } else if constexpr (codec<U>::ok) {
    std::ostringstream o; codec<U>::put(o, const_cast<const U&>(v));  // const_cast: a volatile variable too
    if constexpr (std::is_array_v<U>) saved()[name] = entry{codec<U>::base(), o.str(), codec<U>::dims(), late<std::remove_all_extents_t<U>>()};
    else saved()[name] = entry{codec<U>::name(), o.str(), "", late<U>(), std::is_const_v<T>};
    dropped().erase(name);
  } else {
    saved().erase(name);
    if (dropped().insert(name).second)
      std::fprintf(stderr, "dockerkernel: %s (%s) is not carried to the next cell: only numbers, strings and standard containers of them are\n", name, demangle(typeid(U).name()).c_str());
  }
}
// const-ness carries: `const MyClass foo(10);` stays const in the next cell
#define DK_SAVE(name) dk::save<std::remove_reference_t<decltype(name)>>(#name, name)
template <class T> bool load_into(const char* name, T& v) {
  std::ifstream f(dir() + name + ".dat", std::ios::binary);
  if (!f) { std::fprintf(stderr, "dockerkernel: the saved value of %s is missing; it starts empty\n", name); return false; }
  get_into(f, v);
  return true;
}
template <class T> T load(const char* name) {
  std::ifstream f(dir() + name + ".dat", std::ios::binary);
  if (!f) std::fprintf(stderr, "dockerkernel: the saved value of %s is missing; it starts empty\n", name);
  if (!f) { std::istringstream none; return codec<T>::get(none); }  // T may have no default constructor
  return codec<T>::get(f);
}
inline void finish() {
  std::cout.flush(); std::fflush(nullptr);
  mkdir("/workspace/.dockerkernel", 0755); mkdir(dir().c_str(), 0755);
  // state.hpp comes before the notebook's own functions (they may use carried variables);
  // state_late.hpp after its types (instances of them, pointers to classes)
  for (bool late : {false, true}) {
    std::string file = late ? "state_late.hpp" : "state.hpp";
    std::ofstream h(dir() + file + ".tmp");
    h << "// written by the previous cell's program: the variables it carried\n";
    for (auto& [name, e] : saved()) {
      if (e.late != late) continue;
      std::ofstream(dir() + name + ".dat", std::ios::binary) << e.data;
      if (e.dims.empty()) h << (e.constant ? "const " : "") << e.type << " " << name << " = dk::load<" << e.type << ">(\"" << name << "\");\n";
      else h << e.type << " " << name << e.dims << "; static const bool dk_loaded_" << name << " = dk::load_into(\"" << name << "\", " << name << ");\n";
    }
    h << (late ? "inline void dk_save_carried_late() {" : "inline void dk_save_carried() {");
    for (auto& [name, e] : saved()) if (e.late == late) h << " DK_SAVE(" << name << ");";
    h << " }\n";
    h.close();
    std::rename((dir() + file + ".tmp").c_str(), (dir() + file).c_str());
  }
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
