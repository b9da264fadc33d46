// dockerkernel: the runtime of Rust notebook programs (notebook_program.py): saving and
// restoring values, showing a trailing expression. Compiled once in the image to
// libdkrt.rlib; a notebook program links it (--extern dkrt, added by dkbuild.py).
#![allow(dead_code)]

pub const DK_DIR: &str = "/workspace/.dockerkernel/rust/";
pub trait DkCodec: Sized {
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
pub fn dk_hex(s: &str, out: &mut String) { if s.is_empty() { out.push('-'); } for b in s.bytes() { out.push_str(&format!("{:02x}", b)); } out.push(' '); }
pub fn dk_unhex(t: &str) -> Option<String> {
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
// arrays of any length (const generics, Rust 1.51): their elements, N known from the type
impl<T: DkCodec, const N: usize> DkCodec for [T; N] {
    fn dk_put(&self, out: &mut String) { for v in self.iter() { v.dk_put(out); } }
    fn dk_get(inp: &mut std::str::SplitAsciiWhitespace) -> Option<Self> {
        let items: Vec<T> = (0..N).map(|_| T::dk_get(inp)).collect::<Option<Vec<T>>>()?;
        items.try_into().ok()
    }
    fn dk_type() -> String { format!("[{}; {}]", T::dk_type(), N) }
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
pub fn dk_dir() { let _ = std::fs::create_dir_all(DK_DIR); }
pub fn dk_load<T: DkCodec>(name: &str) -> T {
    let text = std::fs::read_to_string(format!("{}{}.dat", DK_DIR, name)).unwrap_or_default();
    match T::dk_get(&mut text.split_ascii_whitespace()) {
        Some(v) => v,
        // a struct of the notebook defined again with other fields: forgotten, so that only
        // this cell fails (the next one is compiled without it), never every later one
        None => {
            dk_forget(name, &format!("its saved value no longer reads as {} (was the type defined again?)", T::dk_type()));
            panic!("dockerkernel: the saved value of {} could not be read as {}; it is forgotten, run the cell again", name, T::dk_type())
        }
    }
}
pub struct DkGone(pub &'static str, pub &'static str);
impl std::fmt::Debug for DkGone {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { write!(f, "<{} was not carried to this cell: {}>", self.0, self.1) }
}
pub fn dk_gone(name: &'static str, why: &'static str) -> DkGone { DkGone(name, why) }
pub fn dk_type_name<T>() -> String { std::any::type_name::<T>().replace("cell::main::", "").replace("cell::", "") }
pub fn dk_forget(name: &str, why: &str) {
    dk_dir();
    let _ = std::fs::write(format!("{}{}.rs", DK_DIR, name), format!("dk_gone({:?}, {:?})", name, why));
    eprintln!("dockerkernel: {} is not carried to the next cell: {}", name, why);
}
pub struct DkSave<'a, T>(pub &'a str, pub &'a T);
pub trait DkSaveCarried { fn dk_save(&self); }
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
pub trait DkSaveNot { fn dk_save(&self); }
impl<'a, T> DkSaveNot for &DkSave<'a, T> {
    fn dk_save(&self) {
        let previous = std::fs::read_to_string(format!("{}{}.rs", DK_DIR, self.0)).unwrap_or_default();
        if !previous.starts_with("dk_gone") {
            dk_forget(self.0, &format!("its type {} is not one that carries (numbers, bool, char, strings, arrays, Vec, Option, tuples, maps and sets of them)", dk_type_name::<T>()));
        }
    }
}
// A trailing expression's value is shown by the first of three tiers that applies (autoref
// specialisation: the call is `(&&&DkShow(&value)).dk_show()`, and method lookup tries the impl
// on `&&DkShow` first, then `&DkShow`, then `DkShow`): the type's `evcxr_display` (evcxr's
// convention, https://github.com/evcxr/evcxr/blob/main/evcxr_jupyter/README.md), then `Debug`,
// then the type's name.
pub struct DkShow<'a, T>(pub &'a T);
/// Implemented by the notebook program for each type the notebook gives an inherent
/// `fn evcxr_display(&self)` (notebook_program.py writes the impl next to the user's).
pub trait DkEvcxrDisplay { fn dk_evcxr_display(&self); }
pub trait DkShowEvcxr { fn dk_show(&self); }
impl<'a, T: DkEvcxrDisplay> DkShowEvcxr for &&DkShow<'a, T> {
    fn dk_show(&self) { dk_show_evcxr(|| self.0.dk_evcxr_display()); }
}
pub trait DkShowDebug { fn dk_show(&self); }
impl<'a, T: std::fmt::Debug> DkShowDebug for &DkShow<'a, T> {
    // `()` too: evcxr shows a trailing `if`/`for`/block or unit call as `()` (real notebooks:
    // myhalard/rust-tutorial)
    fn dk_show(&self) { dk_send(&format!("{:?}", self.0)); }
}
pub trait DkShowOther { fn dk_show(&self); }
impl<'a, T> DkShowOther for DkShow<'a, T> {
    fn dk_show(&self) { dk_send(&format!("<{}>", dk_type_name::<T>())); }
}
extern "C" {
    fn dup(fd: i32) -> i32;
    fn dup2(old: i32, new: i32) -> i32;
    fn close(fd: i32) -> i32;
}
/// Runs `display` (a type's `evcxr_display`) with standard output written to a file, then
/// publishes what it printed between `EVCXR_BEGIN_CONTENT <mime type>` and `EVCXR_END_CONTENT`
/// lines as the cell's result, one MIME bundle (evcxr's protocol); other lines stay output.
pub fn dk_show_evcxr<F: FnOnce()>(display: F) {
    use std::io::Write;
    use std::os::unix::io::AsRawFd;
    let _ = std::io::stdout().flush();
    let path = format!("/tmp/dk-evcxr-{}", std::process::id());
    let file = match std::fs::File::create(&path) { Ok(f) => f, Err(_) => { display(); return; } };
    let saved = unsafe { dup(1) };
    if saved < 0 || unsafe { dup2(file.as_raw_fd(), 1) } < 0 { display(); return; }
    display();
    let _ = std::io::stdout().flush();
    unsafe { dup2(saved, 1); close(saved); }
    let printed = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let (mut bundle, mut rest, mut current): (Vec<(String, String)>, String, Option<(String, String)>) = (vec![], String::new(), None);
    for line in printed.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if let Some(mime) = bare.strip_prefix("EVCXR_BEGIN_CONTENT ") {
            current = Some((mime.trim().to_string(), String::new()));
        } else if bare == "EVCXR_END_CONTENT" && current.is_some() {
            let (mime, text) = current.take().unwrap();
            bundle.push((mime, text.strip_suffix('\n').unwrap_or(&text).to_string()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
        } else {
            rest.push_str(line);
        }
    }
    if let Some((_, text)) = current { rest.push_str(&text); }
    print!("{}", rest);
    if !bundle.is_empty() { dk_send_bundle(&bundle); }
}
fn dk_json_string(text: &str, body: &mut String) {
    body.push('"');
    for c in text.chars() {
        match c {
            '"' => body.push_str("\\\""), '\\' => body.push_str("\\\\"), '\n' => body.push_str("\\n"),
            c if (c as u32) < 0x20 => body.push_str(&format!("\\u{:04x}", c as u32)),
            c => body.push(c),
        }
    }
    body.push('"');
}
/// The cell's result, `bundle` as the MIME bundle of an `execute_result` (a frame to the kernel;
/// without one, the first entry's text is printed).
pub fn dk_send_bundle(bundle: &[(String, String)]) {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let nonce = std::env::var("DK_NONCE").unwrap_or_default();
    if nonce.is_empty() { println!("{}", bundle[0].1); return; }
    let mut body = String::from("{\"data\":{");
    for (i, (mime, text)) in bundle.iter().enumerate() {
        if i > 0 { body.push(','); }
        dk_json_string(mime, &mut body);
        body.push(':');
        dk_json_string(text, &mut body);
    }
    body.push_str("},\"metadata\":{}}");
    let frame = format!("\x1bDK {} result {}\n{}", nonce, body.len(), body);
    let _ = std::io::stdout().write_all(frame.as_bytes());
    let _ = std::io::stdout().flush();
}
pub fn dk_send(text: &str) { dk_send_bundle(&[("text/plain".to_string(), text.to_string())]); }
