//! The interface generator: each IDL file (TOML, see `docs/interfaces.md`)
//! becomes one Rust module with
//!
//! - the interface's error enum (`#[repr(u16)]`, the shared codes of
//!   `nexus_idl::Code` first, the interface's own from 16),
//! - its structs and enums with their `nexus_idl::Wire` encodings,
//! - `Request<'a>` (decode borrows byte and text arguments, never copies),
//! - `Server`, the dispatch trait, and `dispatch()`,
//! - `reply::*`, the per-op reply codecs (for servers that park a call and
//!   answer it later),
//! - `Client<T: Transport>`, the stub,
//!
//! and one Markdown section for `docs/interfaces.md`. Used from the
//! `build.rs` of `nexus-interfaces` and by `nexus-manifest docs`.
#![forbid(unsafe_code)]

use serde::Deserialize;
use std::fmt::Write as _;
use std::path::Path;

/// One interface file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Module name (snake_case).
    pub name: String,
    /// What the interface is for.
    pub doc: String,
    /// Largest encoded request, bytes (≤ 8192, the kernel's message size).
    pub request_max: usize,
    /// Largest encoded reply, bytes (≤ 8192).
    pub reply_max: usize,
    /// The interface's own errors (codes ≥ 16).
    #[serde(default, rename = "error")]
    pub errors: Vec<ErrorDef>,
    /// Structs.
    #[serde(default, rename = "struct")]
    pub structs: Vec<StructDef>,
    /// Tagged enums.
    #[serde(default, rename = "enum")]
    pub enums: Vec<EnumDef>,
    /// Operations.
    #[serde(default, rename = "op")]
    pub ops: Vec<OpDef>,
}

/// An error of the interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDef {
    /// Variant name (CamelCase).
    pub name: String,
    /// Code, ≥ 16.
    pub code: u16,
    /// Meaning.
    pub doc: String,
}

/// A named field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Field name (snake_case).
    pub name: String,
    /// Wire type (see [`Ty`]).
    #[serde(rename = "type")]
    pub ty: String,
    /// Meaning.
    #[serde(default)]
    pub doc: String,
}

/// A struct: its fields in wire order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructDef {
    /// Type name (CamelCase).
    pub name: String,
    /// Meaning.
    pub doc: String,
    /// Fields in wire order.
    pub fields: Vec<Field>,
}

/// A tagged enum (`u8` tag, then the variant's fields).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumDef {
    /// Type name (CamelCase).
    pub name: String,
    /// Meaning.
    pub doc: String,
    /// Variants.
    pub variants: Vec<Variant>,
}

/// One enum variant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Variant name (CamelCase).
    pub name: String,
    /// Wire tag.
    pub tag: u8,
    /// Meaning.
    pub doc: String,
    /// Fields (none for a unit variant).
    #[serde(default)]
    pub fields: Vec<Field>,
}

/// One operation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpDef {
    /// Method name (snake_case).
    pub name: String,
    /// Op code on the wire (≥ 1).
    pub code: u16,
    /// Meaning.
    pub doc: String,
    /// Arguments in wire order.
    #[serde(default)]
    pub args: Vec<Field>,
    /// Result type (`()` when omitted).
    #[serde(default = "unit")]
    pub ret: String,
}

fn unit() -> String {
    "()".into()
}

/// A parsed wire type.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// A primitive: `u8`…`u64`, `i8`…`i64`, `bool`, `()`.
    Prim(String),
    /// `bytes<N>`: at most N bytes.
    Bytes(usize),
    /// `str<N>`: at most N bytes of UTF-8.
    Str(usize),
    /// `[u8; N]`: exactly N bytes.
    Array(usize),
    /// `list<T, N>`: at most N values.
    List(Box<Ty>, usize),
    /// `option<T>`.
    Option(Box<Ty>),
    /// A struct or enum of the interface.
    Named(String),
}

const PRIMS: &[&str] = &[
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "bool", "()",
];

/// Parses a type expression.
pub fn parse_ty(s: &str) -> Result<Ty, String> {
    let s = s.trim();
    let inner = |pre: &str| s.strip_prefix(pre).and_then(|r| r.strip_suffix('>'));
    let num = |t: &str| {
        t.trim()
            .replace('_', "")
            .parse::<usize>()
            .map_err(|_| format!("bad bound in `{s}`"))
    };
    if PRIMS.contains(&s) {
        return Ok(Ty::Prim(s.into()));
    }
    if let Some(n) = inner("bytes<") {
        return Ok(Ty::Bytes(num(n)?));
    }
    if let Some(n) = inner("str<") {
        return Ok(Ty::Str(num(n)?));
    }
    if let Some(t) = inner("option<") {
        return Ok(Ty::Option(Box::new(parse_ty(t)?)));
    }
    if let Some(t) = inner("list<") {
        let (t, n) = t
            .rsplit_once(',')
            .ok_or_else(|| format!("`{s}`: list<T, N>"))?;
        return Ok(Ty::List(Box::new(parse_ty(t)?), num(n)?));
    }
    if let Some(n) = s.strip_prefix("[u8;").and_then(|r| r.strip_suffix(']')) {
        return Ok(Ty::Array(num(n)?));
    }
    if !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.as_bytes()[0].is_ascii_uppercase()
    {
        return Ok(Ty::Named(s.into()));
    }
    Err(format!("unknown type `{s}`"))
}

impl Ty {
    /// The owned Rust type.
    pub fn owned(&self) -> String {
        match self {
            Ty::Prim(p) => p.clone(),
            Ty::Bytes(n) => format!("nexus_idl::heapless::Vec<u8, {n}>"),
            Ty::Str(n) => format!("nexus_idl::heapless::String<{n}>"),
            Ty::Array(n) => format!("[u8; {n}]"),
            Ty::List(t, n) => format!("nexus_idl::List<{}, {n}>", t.owned()),
            Ty::Option(t) => format!("Option<{}>", t.owned()),
            Ty::Named(n) => n.clone(),
        }
    }

    /// The Rust type of a top-level request argument (bytes and text borrow).
    fn arg(&self, lt: &str) -> String {
        match self {
            Ty::Bytes(_) => format!("&{lt} [u8]"),
            Ty::Str(_) => format!("&{lt} str"),
            t => t.owned(),
        }
    }

    fn arg_encode(&self, expr: &str) -> String {
        match self {
            Ty::Bytes(n) => format!("nexus_idl::Bytes::<{n}>::encode({expr}, &mut w)?"),
            Ty::Str(n) => format!("nexus_idl::Str::<{n}>::encode({expr}, &mut w)?"),
            _ => format!("nexus_idl::Wire::encode({expr}, &mut w)?"),
        }
    }

    fn arg_decode(&self) -> String {
        match self {
            Ty::Bytes(n) => format!("nexus_idl::Bytes::<{n}>::decode(&mut r)?"),
            Ty::Str(n) => format!("nexus_idl::Str::<{n}>::decode(&mut r)?"),
            t => format!("<{} as nexus_idl::Wire>::decode(&mut r)?", t.owned()),
        }
    }

    /// Most bytes the encoding can take (`None`: depends on a named type).
    fn max_len(&self, iface: &Interface) -> usize {
        match self {
            Ty::Prim(p) => match p.as_str() {
                "u8" | "i8" | "bool" => 1,
                "u16" | "i16" => 2,
                "u32" | "i32" => 4,
                "u64" | "i64" => 8,
                _ => 0,
            },
            Ty::Bytes(n) | Ty::Str(n) => 2 + n,
            Ty::Array(n) => *n,
            Ty::List(t, n) => 2 + n * t.max_len(iface),
            Ty::Option(t) => 1 + t.max_len(iface),
            Ty::Named(name) => {
                if let Some(s) = iface.structs.iter().find(|s| &s.name == name) {
                    s.fields
                        .iter()
                        .map(|f| parse_ty(&f.ty).map_or(0, |t| t.max_len(iface)))
                        .sum()
                } else if let Some(e) = iface.enums.iter().find(|e| &e.name == name) {
                    1 + e
                        .variants
                        .iter()
                        .map(|v| {
                            v.fields
                                .iter()
                                .map(|f| parse_ty(&f.ty).map_or(0, |t| t.max_len(iface)))
                                .sum::<usize>()
                        })
                        .max()
                        .unwrap_or(0)
                } else {
                    0
                }
            }
        }
    }
}

fn camel(s: &str) -> String {
    s.split('_')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn doc(out: &mut String, indent: &str, text: &str) {
    for line in text.trim().lines() {
        let _ = writeln!(out, "{indent}/// {}", line.trim_end());
    }
}

/// The shared error variants: (name, code, meaning).
pub const SHARED_ERRORS: &[(&str, u16, &str)] = &[
    (
        "ServerRestarted",
        1,
        "The server ended or restarted while the call was pending.",
    ),
    ("Malformed", 2, "The request or the reply did not decode."),
    ("Denied", 3, "The caller may not do this."),
    ("TimedOut", 4, "The call's deadline passed."),
    (
        "NoResources",
        5,
        "The server is out of a bounded resource for this caller.",
    ),
    (
        "TooLarge",
        6,
        "An argument or result is larger than the interface allows.",
    ),
];

/// Parses and checks one interface; the error names the file and the item.
pub fn load(path: &Path) -> Result<Interface, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let iface: Interface = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    check(&iface).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(iface)
}

/// Generation-time checks: unique names and codes, known types, bounds that
/// fit the kernel's message size.
pub fn check(i: &Interface) -> Result<(), String> {
    const MSG_MAX: usize = 8192;
    if i.request_max > MSG_MAX || i.reply_max > MSG_MAX {
        return Err(format!("request_max/reply_max over {MSG_MAX}"));
    }
    let mut codes = std::collections::BTreeSet::new();
    for e in &i.errors {
        if e.code < 16 {
            return Err(format!("error {}: codes below 16 are shared ones", e.name));
        }
        if !codes.insert(e.code) || SHARED_ERRORS.iter().any(|s| s.0 == e.name) {
            return Err(format!("error {}: duplicate name or code", e.name));
        }
    }
    let named: Vec<&str> = i
        .structs
        .iter()
        .map(|s| s.name.as_str())
        .chain(i.enums.iter().map(|e| e.name.as_str()))
        .collect();
    let check_ty = |t: &str, ctx: &str| -> Result<Ty, String> {
        let ty = parse_ty(t).map_err(|e| format!("{ctx}: {e}"))?;
        fn walk(t: &Ty, named: &[&str]) -> Result<(), String> {
            match t {
                Ty::Named(n) if !named.contains(&n.as_str()) => Err(format!("unknown type `{n}`")),
                Ty::List(t, _) | Ty::Option(t) => walk(t, named),
                _ => Ok(()),
            }
        }
        walk(&ty, &named).map_err(|e| format!("{ctx}: {e}"))?;
        Ok(ty)
    };
    for s in &i.structs {
        for f in &s.fields {
            check_ty(&f.ty, &format!("struct {}.{}", s.name, f.name))?;
        }
    }
    for e in &i.enums {
        let mut tags = std::collections::BTreeSet::new();
        for v in &e.variants {
            if !tags.insert(v.tag) {
                return Err(format!("enum {}: tag {} twice", e.name, v.tag));
            }
            for f in &v.fields {
                check_ty(&f.ty, &format!("enum {}::{}.{}", e.name, v.name, f.name))?;
            }
        }
    }
    let mut ops = std::collections::BTreeSet::new();
    for o in &i.ops {
        if o.code == 0 || !ops.insert(o.code) {
            return Err(format!("op {}: code must be unique and ≥ 1", o.name));
        }
        let mut req = 2;
        for a in &o.args {
            req += check_ty(&a.ty, &format!("op {}({})", o.name, a.name))?.max_len(i);
        }
        if req > i.request_max {
            return Err(format!(
                "op {}: its request can take {req} bytes, over request_max {}",
                o.name, i.request_max
            ));
        }
        let rep = 2 + check_ty(&o.ret, &format!("op {} result", o.name))?.max_len(i);
        if rep > i.reply_max {
            return Err(format!(
                "op {}: its reply can take {rep} bytes, over reply_max {}",
                o.name, i.reply_max
            ));
        }
    }
    Ok(())
}

/// The Rust module for one interface.
pub fn generate(i: &Interface) -> String {
    let mut o = String::new();
    let m = &i.name;
    doc(&mut o, "", &i.doc);
    let _ = writeln!(
        o,
        "///\n/// Generated from `idl/{m}.toml` by `nexus-idlgen`; see `docs/interfaces.md`."
    );
    let _ = writeln!(o, "pub mod {m} {{");
    let _ = writeln!(o, "    #![allow(clippy::all, unused_mut, unused_variables, unused_imports, unreachable_code, dead_code)]");
    let _ = writeln!(
        o,
        "    use nexus_idl::{{Reader, Transport, Wire, WireError, Writer}};"
    );
    let _ = writeln!(
        o,
        "    /// Largest encoded request.\n    pub const REQUEST_MAX: usize = {};",
        i.request_max
    );
    let _ = writeln!(
        o,
        "    /// Largest encoded reply.\n    pub const REPLY_MAX: usize = {};",
        i.reply_max
    );

    // Errors.
    let _ = writeln!(
        o,
        "    /// Errors of this interface (shared codes 1..=6, its own from 16)."
    );
    let _ = writeln!(
        o,
        "    #[repr(u16)]\n    #[derive(Copy, Clone, Debug, PartialEq, Eq)]\n    pub enum Error {{"
    );
    for (n, c, d) in SHARED_ERRORS {
        let _ = writeln!(o, "        /// {d}\n        {n} = {c},");
    }
    for e in &i.errors {
        doc(&mut o, "        ", &e.doc);
        let _ = writeln!(o, "        {} = {},", e.name, e.code);
    }
    let _ = writeln!(o, "    }}");
    let _ = writeln!(o, "    impl Error {{");
    let _ = writeln!(
        o,
        "        /// The wire code.\n        pub fn code(self) -> u16 {{ self as u16 }}"
    );
    let _ = writeln!(o, "        /// The error for a wire code (`None` for an unknown one).\n        pub fn from_code(c: u16) -> Option<Self> {{\n            Some(match c {{");
    for (n, c, _) in SHARED_ERRORS {
        let _ = writeln!(o, "                {c} => Self::{n},");
    }
    for e in &i.errors {
        let _ = writeln!(o, "                {} => Self::{},", e.code, e.name);
    }
    let _ = writeln!(
        o,
        "                _ => return None,\n            }})\n        }}\n    }}"
    );

    // Structs.
    for s in &i.structs {
        doc(&mut o, "    ", &s.doc);
        let _ = writeln!(
            o,
            "    #[derive(Clone, Debug, PartialEq, Eq)]\n    pub struct {} {{",
            s.name
        );
        for f in &s.fields {
            doc(
                &mut o,
                "        ",
                if f.doc.is_empty() { &f.name } else { &f.doc },
            );
            let _ = writeln!(
                o,
                "        pub {}: {},",
                f.name,
                parse_ty(&f.ty).unwrap().owned()
            );
        }
        let _ = writeln!(o, "    }}");
        let _ = writeln!(o, "    impl Wire for {} {{", s.name);
        let _ = writeln!(
            o,
            "        fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {{"
        );
        for f in &s.fields {
            let _ = writeln!(o, "            self.{}.encode(w)?;", f.name);
        }
        let _ = writeln!(o, "            Ok(())\n        }}");
        let _ = writeln!(o, "        fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {{\n            Ok(Self {{");
        for f in &s.fields {
            let _ = writeln!(o, "                {}: Wire::decode(r)?,", f.name);
        }
        let _ = writeln!(o, "            }})\n        }}\n    }}");
    }

    // Enums.
    for e in &i.enums {
        doc(&mut o, "    ", &e.doc);
        let _ = writeln!(
            o,
            "    #[derive(Clone, Debug, PartialEq, Eq)]\n    pub enum {} {{",
            e.name
        );
        for v in &e.variants {
            doc(&mut o, "        ", &v.doc);
            if v.fields.is_empty() {
                let _ = writeln!(o, "        {},", v.name);
            } else {
                let _ = writeln!(o, "        {} {{", v.name);
                for f in &v.fields {
                    doc(
                        &mut o,
                        "            ",
                        if f.doc.is_empty() { &f.name } else { &f.doc },
                    );
                    let _ = writeln!(
                        o,
                        "            {}: {},",
                        f.name,
                        parse_ty(&f.ty).unwrap().owned()
                    );
                }
                let _ = writeln!(o, "        }},");
            }
        }
        let _ = writeln!(o, "    }}");
        let _ = writeln!(o, "    impl Wire for {} {{", e.name);
        let _ = writeln!(o, "        fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {{\n            match self {{");
        for v in &e.variants {
            let names: Vec<&str> = v.fields.iter().map(|f| f.name.as_str()).collect();
            let pat = if names.is_empty() {
                String::new()
            } else {
                format!(" {{ {} }}", names.join(", "))
            };
            let _ = writeln!(
                o,
                "                Self::{}{pat} => {{\n                    w.put(&[{}])?;",
                v.name, v.tag
            );
            for n in &names {
                let _ = writeln!(o, "                    {n}.encode(w)?;");
            }
            let _ = writeln!(o, "                    Ok(())\n                }}");
        }
        let _ = writeln!(o, "            }}\n        }}");
        let _ = writeln!(o, "        fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {{\n            Ok(match r.array::<1>()?[0] {{");
        for v in &e.variants {
            if v.fields.is_empty() {
                let _ = writeln!(o, "                {} => Self::{},", v.tag, v.name);
            } else {
                let _ = writeln!(o, "                {} => Self::{} {{", v.tag, v.name);
                for f in &v.fields {
                    let _ = writeln!(o, "                    {}: Wire::decode(r)?,", f.name);
                }
                let _ = writeln!(o, "                }},");
            }
        }
        let _ = writeln!(o, "                _ => return Err(WireError::Malformed),\n            }})\n        }}\n    }}");
    }

    // Op codes.
    let _ = writeln!(
        o,
        "    /// Op codes (the `u16` that starts every request).\n    pub mod op {{"
    );
    for op in &i.ops {
        doc(&mut o, "        ", &op.doc);
        let _ = writeln!(
            o,
            "        pub const {}: u16 = {};",
            op.name.to_ascii_uppercase(),
            op.code
        );
    }
    let _ = writeln!(o, "    }}");

    // Request.
    let _ = writeln!(o, "    /// A decoded request (byte and text arguments borrow the message).\n    #[derive(Clone, Debug, PartialEq, Eq)]\n    pub enum Request<'a> {{");
    for op in &i.ops {
        doc(&mut o, "        ", &op.doc);
        if op.args.is_empty() {
            let _ = writeln!(o, "        {},", camel(&op.name));
        } else {
            let _ = writeln!(o, "        {} {{", camel(&op.name));
            for a in &op.args {
                doc(
                    &mut o,
                    "            ",
                    if a.doc.is_empty() { &a.name } else { &a.doc },
                );
                let _ = writeln!(
                    o,
                    "            {}: {},",
                    a.name,
                    parse_ty(&a.ty).unwrap().arg("'a")
                );
            }
            let _ = writeln!(o, "        }},");
        }
    }
    let _ = writeln!(o, "        #[doc(hidden)]\n        _Phantom(core::marker::PhantomData<&'a ()>, core::convert::Infallible),");
    let _ = writeln!(o, "    }}");
    let _ = writeln!(o, "    impl<'a> Request<'a> {{");
    let _ = writeln!(o, "        /// Decodes a whole request; anything else is `Malformed`.\n        pub fn decode(b: &'a [u8]) -> Result<Self, WireError> {{\n            let mut r = Reader::new(b);\n            let req = match nexus_idl::request_op(&mut r)? {{");
    for op in &i.ops {
        let v = camel(&op.name);
        if op.args.is_empty() {
            let _ = writeln!(
                o,
                "                op::{} => Self::{v},",
                op.name.to_ascii_uppercase()
            );
        } else {
            let _ = writeln!(
                o,
                "                op::{} => Self::{v} {{",
                op.name.to_ascii_uppercase()
            );
            for a in &op.args {
                let _ = writeln!(
                    o,
                    "                    {}: {},",
                    a.name,
                    parse_ty(&a.ty).unwrap().arg_decode()
                );
            }
            let _ = writeln!(o, "                }},");
        }
    }
    let _ = writeln!(o, "                _ => return Err(WireError::Malformed),\n            }};\n            r.finish()?;\n            Ok(req)\n        }}");
    let _ = writeln!(o, "        /// Encodes the request into `out`; returns its length.\n        pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {{\n            let mut w = Writer::new(out);\n            match self {{");
    for op in &i.ops {
        let v = camel(&op.name);
        let names: Vec<&str> = op.args.iter().map(|a| a.name.as_str()).collect();
        let pat = if names.is_empty() {
            String::new()
        } else {
            format!(" {{ {} }}", names.join(", "))
        };
        let _ = writeln!(
            o,
            "                Self::{v}{pat} => {{\n                    op::{}.encode(&mut w)?;",
            op.name.to_ascii_uppercase()
        );
        for a in &op.args {
            let ty = parse_ty(&a.ty).unwrap();
            let expr = match ty {
                Ty::Bytes(_) | Ty::Str(_) => format!("*{}", a.name),
                _ => a.name.clone(),
            };
            let _ = writeln!(o, "                    {};", ty.arg_encode(&expr));
        }
        let _ = writeln!(o, "                }}");
    }
    let _ = writeln!(o, "                Self::_Phantom(_, n) => match *n {{}},\n            }}\n            Ok(w.len())\n        }}\n    }}");

    // Reply codecs.
    let _ = writeln!(o, "    /// Per-op reply codecs: `[status u16][value if status = 0]`.\n    pub mod reply {{\n        use super::*;");
    for op in &i.ops {
        let ret = parse_ty(&op.ret).unwrap().owned();
        let _ = writeln!(
            o,
            "        /// Encodes the reply of `{}`; returns its length.",
            op.name
        );
        let _ = writeln!(o, "        pub fn {}(r: &Result<{ret}, Error>, out: &mut [u8]) -> usize {{\n            match r {{\n                Ok(v) => nexus_idl::encode_ok(v, out),\n                Err(e) => nexus_idl::encode_error(e.code(), out),\n            }}\n        }}", op.name);
        let _ = writeln!(
            o,
            "        /// Decodes the reply of `{}`; a reply that does not decode is `Malformed`.",
            op.name
        );
        let _ = writeln!(o, "        pub fn decode_{}(b: &[u8]) -> Result<{ret}, Error> {{\n            let (status, mut r) = nexus_idl::reply_status(b).map_err(|_| Error::Malformed)?;\n            if status != nexus_idl::STATUS_OK {{\n                return Err(Error::from_code(status).unwrap_or(Error::Malformed));\n            }}\n            let v = <{ret} as Wire>::decode(&mut r).map_err(|_| Error::Malformed)?;\n            r.finish().map_err(|_| Error::Malformed)?;\n            Ok(v)\n        }}", op.name);
    }
    let _ = writeln!(o, "    }}");

    // Server.
    let _ = writeln!(o, "    /// The server side: one method per op. `caller` is the kernel-stamped badge.\n    pub trait Server {{");
    for op in &i.ops {
        doc(&mut o, "        ", &op.doc);
        let args: String = op
            .args
            .iter()
            .map(|a| format!(", {}: {}", a.name, parse_ty(&a.ty).unwrap().arg("")))
            .collect();
        let _ = writeln!(
            o,
            "        fn {}(&mut self, caller: u64{args}) -> Result<{}, Error>;",
            op.name,
            parse_ty(&op.ret).unwrap().owned()
        );
    }
    let _ = writeln!(o, "    }}");
    let _ = writeln!(o, "    /// Decodes `req`, calls the method, encodes its result into `out`;\n    /// returns the reply length. A request that does not decode gets `Malformed`.\n    pub fn dispatch<S: Server + ?Sized>(s: &mut S, caller: u64, req: &[u8], out: &mut [u8]) -> usize {{\n        match Request::decode(req) {{\n            Err(_) => nexus_idl::encode_error(Error::Malformed.code(), out),");
    for op in &i.ops {
        let v = camel(&op.name);
        let names: Vec<&str> = op.args.iter().map(|a| a.name.as_str()).collect();
        let pat = if names.is_empty() {
            String::new()
        } else {
            format!(" {{ {} }}", names.join(", "))
        };
        let call_args: String = names.iter().map(|n| format!(", {n}")).collect();
        let _ = writeln!(
            o,
            "            Ok(Request::{v}{pat}) => reply::{}(&s.{}(caller{call_args}), out),",
            op.name, op.name
        );
    }
    let _ = writeln!(
        o,
        "            Ok(Request::_Phantom(_, n)) => match n {{}},\n        }}\n    }}"
    );

    // Client.
    let _ = writeln!(o, "    /// The client stub over a transport (a kernel endpoint in the OS, a\n    /// direct call in host tests).\n    pub struct Client<T: Transport> {{\n        /// The transport.\n        pub transport: T,\n        /// Absolute deadline of the next calls (ns, 0 = none).\n        pub deadline_ns: u64,\n    }}");
    let _ = writeln!(o, "    impl<T: Transport> Client<T> {{\n        /// A stub with no deadline.\n        pub fn new(transport: T) -> Self {{\n            Self {{ transport, deadline_ns: 0 }}\n        }}");
    let _ = writeln!(o, "        fn exchange(&mut self, req: &Request<'_>, rep: &mut [u8]) -> Result<usize, Error> {{\n            let mut buf = [0u8; REQUEST_MAX];\n            let n = req.encode(&mut buf).map_err(|_| Error::TooLarge)?;\n            self.transport\n                .call(&buf[..n], rep, self.deadline_ns)\n                .map_err(|e| Error::from_code(nexus_idl::transport_code(e)).unwrap_or(Error::Malformed))\n        }}");
    for op in &i.ops {
        doc(&mut o, "        ", &op.doc);
        let v = camel(&op.name);
        let args: String = op
            .args
            .iter()
            .map(|a| format!(", {}: {}", a.name, parse_ty(&a.ty).unwrap().arg("")))
            .collect();
        let names: Vec<&str> = op.args.iter().map(|a| a.name.as_str()).collect();
        let ctor = if names.is_empty() {
            format!("Request::{v}")
        } else {
            format!("Request::{v} {{ {} }}", names.join(", "))
        };
        let ret = parse_ty(&op.ret).unwrap().owned();
        let _ = writeln!(o, "        pub fn {}(&mut self{args}) -> Result<{ret}, Error> {{\n            let mut rep = [0u8; REPLY_MAX];\n            let n = self.exchange(&{ctor}, &mut rep)?;\n            reply::decode_{}(&rep[..n])\n        }}", op.name, op.name);
    }
    let _ = writeln!(o, "    }}\n}}");
    o
}

/// The Markdown section describing one interface.
pub fn markdown(i: &Interface) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## `{}`\n\n{}\n", i.name, i.doc.trim());
    let _ = writeln!(
        o,
        "Requests ≤ {} bytes, replies ≤ {} bytes.\n",
        i.request_max, i.reply_max
    );
    let _ = writeln!(
        o,
        "| op | code | arguments | result | meaning |\n|---|---:|---|---|---|"
    );
    for op in &i.ops {
        let args: Vec<String> = op
            .args
            .iter()
            .map(|a| format!("`{}: {}`", a.name, a.ty))
            .collect();
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | `{}` | {} |",
            op.name,
            op.code,
            if args.is_empty() {
                "–".into()
            } else {
                args.join(", ")
            },
            op.ret,
            op.doc.trim().replace('\n', " ")
        );
    }
    if !i.errors.is_empty() {
        let _ = writeln!(o, "\nOwn errors (besides the shared codes 1–6):\n\n| code | name | meaning |\n|---:|---|---|");
        for e in &i.errors {
            let _ = writeln!(
                o,
                "| {} | `{}` | {} |",
                e.code,
                e.name,
                e.doc.trim().replace('\n', " ")
            );
        }
    }
    for s in &i.structs {
        let f: Vec<String> = s
            .fields
            .iter()
            .map(|f| format!("`{}: {}`", f.name, f.ty))
            .collect();
        let _ = writeln!(
            o,
            "\nStruct `{}` ({}): {}.",
            s.name,
            s.doc.trim().trim_end_matches('.').replace('\n', " "),
            f.join(", ")
        );
    }
    for e in &i.enums {
        let v: Vec<String> = e
            .variants
            .iter()
            .map(|v| {
                let f: Vec<String> = v
                    .fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, f.ty))
                    .collect();
                if f.is_empty() {
                    format!("{} = `{}`", v.tag, v.name)
                } else {
                    format!("{} = `{} {{ {} }}`", v.tag, v.name, f.join(", "))
                }
            })
            .collect();
        let _ = writeln!(
            o,
            "\nEnum `{}` ({}), tag `u8`: {}.",
            e.name,
            e.doc.trim().trim_end_matches('.').replace('\n', " "),
            v.join(", ")
        );
    }
    o
}

/// Loads every `*.toml` of `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Interface>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files.iter().map(|p| load(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse() {
        assert_eq!(parse_ty("bytes<64>"), Ok(Ty::Bytes(64)));
        assert_eq!(
            parse_ty("list<PeerInfo, 16>"),
            Ok(Ty::List(Box::new(Ty::Named("PeerInfo".into())), 16))
        );
        assert_eq!(
            parse_ty("option<u32>"),
            Ok(Ty::Option(Box::new(Ty::Prim("u32".into()))))
        );
        assert_eq!(parse_ty("[u8; 4]"), Ok(Ty::Array(4)));
        assert!(parse_ty("float").is_err());
    }

    #[test]
    fn checks_name_the_problem() {
        let bad = r#"
name = "x"
doc = "x"
request_max = 8
reply_max = 8
[[op]]
name = "put"
code = 1
doc = "d"
args = [{ name = "v", type = "bytes<64>" }]
"#;
        let i: Interface = toml::from_str(bad).unwrap();
        let e = check(&i).unwrap_err();
        assert!(e.contains("op put") && e.contains("request_max"), "{e}");
        let bad = bad.replace("bytes<64>", "Nope");
        let i: Interface = toml::from_str(&bad).unwrap();
        assert!(check(&i).unwrap_err().contains("unknown type `Nope`"));
    }
}
