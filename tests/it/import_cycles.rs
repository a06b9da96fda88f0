//! No import cycles among the modules of `src/`: neither among the crate's top-level modules
//! nor among the sibling submodules of one module directory.
//!
//! Dependencies run one way (`main` → `app`/`commands` → `config` → components → `diag`). A
//! cycle means neither module can be read, tested or moved without the other. The check reads
//! the sources, not the compiler's output: every `use` tree and every inline path that starts
//! with `crate::` or `super::` is a reference from the module whose file holds it to the module
//! it names. Comments, string literals and `#[cfg(test)]` items (with the files that such a
//! `mod x;` declares) are left out: a doc link is not a dependency, and a test may build its
//! input with a higher layer without the product depending on it.
//!
//! A reference counts between two *siblings*: for `a::b::c` naming `a::d::e`, the edge is
//! `a::b -> a::d` in the graph of `a`'s children (the crate root's children are the top-level
//! modules). A reference between a module and its own ancestor or descendant (a parent using
//! its children, a child using an item of its parent through `super::`) is how a module is
//! built from its parts and never counts. Names reached through a parent's re-export count as
//! a reference to the parent, so such a cycle is not seen; the check never reports one that
//! is not there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges that close an import cycle in `src/` today. Each is the edge that goes against the
/// dependency direction; the refactor that removes it is named beside it. The test fails on
/// an entry that no longer closes a cycle, so this list only shrinks: empty is the goal.
const KNOWN_CYCLE_EDGES: &[(&str, &str)] = &[];

/// A reference from one module to another, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    from: Vec<String>,
    to: Vec<String>,
    file: PathBuf,
    line: usize,
}

/// An edge between two siblings, keyed (from, to) by their full module paths, with the first
/// place that writes it.
type Edges = BTreeMap<(String, String), String>;

#[test]
fn src_modules_have_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = sibling_edges(&src);
    assert!(
        edges.keys().any(|(from, _)| !from.contains("::")),
        "the check found no reference between top-level modules in {}: the parser is broken",
        src.display()
    );
    let report = check(&edges, KNOWN_CYCLE_EDGES);
    println!("{}", report.known);
    assert!(report.problems.is_empty(), "{}", report.problems);
}

/// What the check found: `problems` fail the test; `known` lists the allowed cycles.
struct Report {
    problems: String,
    known: String,
}

/// Cycles in `edges` once the `allowed` edges are taken out, and `allowed` edges that no longer
/// close a cycle.
fn check(edges: &Edges, allowed: &[(&str, &str)]) -> Report {
    let mut problems = String::new();
    let mut known = String::new();
    let allowed: BTreeSet<(String, String)> = allowed
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let everything = components(edges);
    let mut shown = BTreeSet::new();
    for (from, to) in &allowed {
        let closes_a_cycle = edges.contains_key(&(from.clone(), to.clone()))
            && everything
                .iter()
                .any(|c| c.contains(from) && c.contains(to));
        if closes_a_cycle {
            let c = component_of(&everything, from);
            if shown.insert(c.clone()) {
                known.push_str(&format!(
                    "known import cycle, allowed by KNOWN_CYCLE_EDGES: {}\n",
                    describe(&c, edges)
                ));
            }
        } else {
            problems.push_str(&format!(
                "`{from} -> {to}` in KNOWN_CYCLE_EDGES no longer closes an import cycle: \
                 delete the entry\n"
            ));
        }
    }
    let rest: Edges = edges
        .iter()
        .filter(|(k, _)| !allowed.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for c in components(&rest) {
        problems.push_str(&format!(
            "import cycle: {}\n  Make the dependency one-way (move the shared item down to \
             the module both use, or pass it in).\n",
            describe(&c, &rest)
        ));
    }
    Report { problems, known }
}

fn component_of(comps: &[BTreeSet<String>], node: &str) -> BTreeSet<String> {
    comps.iter().find(|c| c.contains(node)).cloned().unwrap()
}

/// The modules of a cycle and every edge among them, with where each is written.
fn describe(c: &BTreeSet<String>, edges: &Edges) -> String {
    let mut out = c.iter().cloned().collect::<Vec<_>>().join(", ");
    for ((from, to), at) in edges {
        if c.contains(from) && c.contains(to) {
            out.push_str(&format!("\n    {from} -> {to}  ({at})"));
        }
    }
    out
}

/// The strongly connected components of more than one module: the sets of modules that all
/// reach each other.
fn components(edges: &Edges) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let reach = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_string()];
        while let Some(n) = todo.pop() {
            for m in next.get(n.as_str()).into_iter().flatten() {
                if seen.insert(m.to_string()) {
                    todo.push(m.to_string());
                }
            }
        }
        seen
    };
    let nodes: BTreeSet<&str> = edges
        .keys()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    let reaches: BTreeMap<&str, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for n in &nodes {
        if out.iter().any(|c| c.contains(*n)) || !reaches[n].contains(*n) {
            continue;
        }
        let comp: BTreeSet<String> = reaches[n]
            .iter()
            .filter(|m| reaches[m.as_str()].contains(*n))
            .cloned()
            .collect();
        out.push(comp);
    }
    out
}

/// Every sibling edge in the crate under `src`.
fn sibling_edges(src: &Path) -> Edges {
    let files = module_files(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut edges = Edges::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let rel = path.strip_prefix(src.parent().unwrap()).unwrap_or(path);
        for r in references(module, &text, rel) {
            if let Some((a, b)) = siblings(&r.from, &r.to, &modules) {
                edges
                    .entry((a, b))
                    .or_insert_with(|| format!("{}:{}", r.file.display(), r.line));
            }
        }
    }
    edges
}

/// The sibling pair a reference connects, if it connects two: the children of the deepest
/// common ancestor that lead to `from` and to `to`, when both are modules.
fn siblings(
    from: &[String],
    to: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<(String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    let b = &to[..=common];
    modules
        .contains(b)
        .then(|| (from[..=common].join("::"), b.join("::")))
}

/// The library's module files with their module paths (`src/app/daemon.rs` is `app::daemon`,
/// `src/app/mod.rs` is `app`), without the binary's `main.rs` (another crate) and without the
/// files that `#[cfg(test)] mod x;` declares.
fn module_files(src: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let mut found = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: Vec<String> = rel
                    .iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect();
                if module.last().is_some_and(|l| l == "mod") {
                    module.pop();
                }
                if module == ["main"] {
                    continue;
                }
                if module == ["lib"] {
                    module.clear();
                }
                found.push((module, path));
            }
        }
    }
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    for (module, path) in &found {
        let code = strip_comments_and_literals(&std::fs::read_to_string(path).unwrap());
        for name in drop_test_items(&code).1 {
            let mut m = module.clone();
            m.push(name);
            test_only.insert(m);
        }
    }
    found.retain(|(m, _)| !test_only.iter().any(|t| m.starts_with(t)));
    found.sort();
    found
}

/// The references to other modules in one file of `module`, resolved to absolute paths.
fn references(module: &[String], text: &str, file: &Path) -> Vec<Reference> {
    let code = strip_comments_and_literals(text);
    let (code, _) = drop_test_items(&code);
    if let Some((line, name)) = inline_module(&code) {
        panic!(
            "{}:{line}: inline module `{name}`: the import check resolves `super::` per file; \
             give the module its own file (or teach tests/it/import_cycles.rs inline modules)",
            file.display()
        );
    }
    let mut paths = use_tree_paths(&code);
    paths.extend(inline_paths(&code));
    paths
        .into_iter()
        .filter_map(|(path, line)| {
            Some(Reference {
                from: module.to_vec(),
                to: resolve(module, &path)?,
                file: file.to_path_buf(),
                line,
            })
        })
        .collect()
}

/// `path` (starting with `crate` or `super`) as an absolute module path from the crate root.
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("super") => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend_from_slice(rest);
            Some(base)
        }
        _ => None,
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn line_at(code: &[u8], at: usize) -> usize {
    1 + code[..at].iter().filter(|&&b| b == b'\n').count()
}

/// `text` with comments, string, byte-string and char literals blanked out (newlines kept, so
/// line numbers still hold).
fn strip_comments_and_literals(text: &str) -> String {
    let src = text.as_bytes();
    let mut out = src.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        let ident_before = i > 0 && is_ident(src[i - 1]);
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(src.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < src.len() {
                if src[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if src[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(open) = raw_string_start(src, i) {
            // r"…", r#"…"#, br"…", cr"…": no escapes; ends at `"` followed by as many `#`.
            let hashes = open - i - 2 - usize::from(src[i] != b'r');
            let mut close = b"\"".to_vec();
            close.extend(std::iter::repeat_n(b'#', hashes));
            let end = src[open..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(src.len(), |p| open + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if src[i] == b'"' {
            let mut j = i + 1;
            while j < src.len() && src[j] != b'"' {
                j += if src[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(src.len());
            blank(&mut out, i, end);
            i = end;
        } else if src[i] == b'\''
            && !(ident_before && !(src[i - 1] == b'b' && (i < 2 || !is_ident(src[i - 2]))))
        {
            // A char literal ('x', '\n', '\u{…}', 'é'); otherwise a lifetime or a label.
            let end = if rest.get(1) == Some(&b'\\') {
                // Skip the escaped character itself: '\'' ends at the second quote after it.
                rest.get(3..)
                    .and_then(|r| r.iter().position(|&b| b == b'\''))
                    .map(|p| i + 3 + p + 1)
            } else {
                let width = rest
                    .get(1)
                    .map_or(1, |&b| (b.leading_ones() as usize).max(1));
                (rest.get(1 + width) == Some(&b'\'')).then_some(i + 2 + width)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced, by spaces")
}

/// Where a raw string literal starting at `i` opens (the index after its `"`), if one does.
fn raw_string_start(src: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident(src[i - 1]) {
        return None;
    }
    let mut j = i;
    if matches!(src[j], b'b' | b'c') {
        j += 1;
    }
    if src.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    while src.get(j) == Some(&b'#') {
        j += 1;
    }
    (src.get(j) == Some(&b'"')).then_some(j + 1)
}

/// `code` with every item under `#[cfg(test)]` blanked out, and the names of the modules such
/// items declare as files (`#[cfg(test)] mod tests;`).
fn drop_test_items(code: &str) -> (String, Vec<String>) {
    const ATTR: &str = "#[cfg(test)]";
    let mut out = code.as_bytes().to_vec();
    let mut test_modules = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find(ATTR) {
        let start = from + p;
        let item = start + ATTR.len();
        // The item ends at its first `;` outside brackets, or with the block it opens.
        let bytes = code.as_bytes();
        let (mut depth, mut j) = (0i32, item);
        let end = loop {
            match bytes.get(j) {
                None => break bytes.len(),
                Some(b'(' | b'[') => depth += 1,
                Some(b')' | b']') => depth -= 1,
                Some(b';') if depth == 0 => break j + 1,
                Some(b'{') if depth == 0 => {
                    let mut braces = 0;
                    while j < bytes.len() {
                        match bytes[j] {
                            b'{' => braces += 1,
                            b'}' => {
                                braces -= 1;
                                if braces == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    break (j + 1).min(bytes.len());
                }
                _ => {}
            }
            j += 1;
        };
        let words: Vec<&str> = code[item..end]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ';'))
            .filter(|w| !w.is_empty())
            .collect();
        if let Some(k) = words.iter().position(|w| *w == "mod") {
            if let Some(name) = words.get(k + 1).and_then(|w| w.strip_suffix(';')) {
                test_modules.push(name.to_string());
            }
        }
        for b in &mut out[start..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        from = end;
    }
    (String::from_utf8(out).unwrap(), test_modules)
}

/// The first `mod name {` in `code` (after test items are dropped), with its line.
fn inline_module(code: &str) -> Option<(usize, String)> {
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(p) = code[from..].find("mod ") {
        let at = from + p;
        from = at + 4;
        if at > 0 && is_ident(b[at - 1]) {
            continue;
        }
        let rest = code[at + 4..].trim_start();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].trim_start().starts_with('{') {
            return Some((line_at(b, at), name));
        }
    }
    None
}

/// Every path a `use` declaration names (a tree `a::{b, c::{d, e as f}}` names `a::b`,
/// `a::c::d`, `a::c::e`), with the line of its last segment.
fn use_tree_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("use") {
        let at = from + p;
        from = at + 3;
        let before_ok = at == 0 || !is_ident(b[at - 1]);
        let after_ok = b.get(at + 3).is_some_and(|c| c.is_ascii_whitespace());
        if !(before_ok && after_ok) {
            continue;
        }
        let Some(len) = code[at..].find(';') else {
            break;
        };
        let tokens = tokenize(code, at + 3, at + len);
        let mut pos = 0;
        parse_tree(&tokens, &mut pos, Vec::new(), &mut out);
        from = at + len;
    }
    out
}

/// Identifiers and the punctuation of a use tree, each with its line.
fn tokenize(code: &str, from: usize, to: usize) -> Vec<(String, usize)> {
    let b = code.as_bytes();
    let mut tokens = Vec::new();
    let mut i = from;
    while i < to {
        let c = b[i];
        if is_ident(c) {
            let start = i;
            while i < to && is_ident(b[i]) {
                i += 1;
            }
            tokens.push((code[start..i].to_string(), line_at(b, start)));
        } else if code[i..to].starts_with("::") {
            tokens.push(("::".into(), line_at(b, i)));
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                tokens.push(((c as char).to_string(), line_at(b, i)));
            }
            i += 1;
        }
    }
    tokens
}

fn parse_tree(
    tokens: &[(String, usize)],
    pos: &mut usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let mut line = tokens.get(*pos).map_or(0, |t| t.1);
    while let Some((tok, l)) = tokens.get(*pos) {
        match tok.as_str() {
            "::" => *pos += 1,
            "{" => {
                *pos += 1;
                loop {
                    match tokens.get(*pos).map(|t| t.0.as_str()) {
                        None => return,
                        Some("}") => {
                            *pos += 1;
                            return;
                        }
                        Some(",") => *pos += 1,
                        Some(_) => parse_tree(tokens, pos, prefix.clone(), out),
                    }
                }
            }
            "}" | "," => break,
            "*" => {
                *pos += 1;
            }
            "as" => {
                *pos += 2;
            }
            "self" if !prefix.is_empty() => {
                *pos += 1;
            }
            word => {
                prefix.push(word.to_string());
                line = *l;
                *pos += 1;
            }
        }
    }
    if !prefix.is_empty() {
        out.push((prefix, line));
    }
}

/// Every path written inline from `crate::` or `super::` (`crate::sources::K8sRef`,
/// `super::statelock::acquire`), with its line.
fn inline_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    for start_word in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(p) = code[from..].find(start_word) {
            let at = from + p;
            from = at + start_word.len();
            if at > 0 && is_ident(b[at - 1]) {
                continue;
            }
            let mut segments = Vec::new();
            let mut i = at;
            loop {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                if start == i {
                    break;
                }
                segments.push(code[start..i].to_string());
                if code[i..].starts_with("::") {
                    i += 2;
                } else {
                    break;
                }
            }
            out.push((segments, line_at(b, at)));
        }
    }
    out
}

/// The parser and the cycle search on small inputs, so the check above can be trusted to
/// fail when it should.
mod parser {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn comments_strings_and_chars_are_blanked_and_lines_kept() {
        let text = "use crate::a; // crate::b\n/* crate::c /* nested */ crate::d */\n\
                    let s = \"crate::e\"; let r = r#\"crate::f \"x\" \"#; let c = '\"';\n\
                    fn f<'a>(x: &'a str) { crate::g::h(x) }\n";
        let code = strip_comments_and_literals(text);
        assert_eq!(code.lines().count(), text.lines().count());
        let paths: Vec<_> = inline_paths(&code)
            .into_iter()
            .map(|(p, l)| (p.join("::"), l))
            .collect();
        assert_eq!(
            paths,
            [("crate::a".to_string(), 1), ("crate::g::h".to_string(), 4)]
        );
    }

    #[test]
    fn use_trees_name_every_leaf() {
        let code = "pub use crate::a::{self, b::C, d::{e as f, *}};\nuse super::g;\nfn user() {}\n";
        let got: Vec<String> = use_tree_paths(code)
            .into_iter()
            .map(|(p, _)| p.join("::"))
            .collect();
        assert_eq!(
            got,
            [
                "crate::a",
                "crate::a::b::C",
                "crate::a::d::e",
                "crate::a::d",
                "super::g"
            ]
        );
    }

    #[test]
    fn test_items_and_test_module_files_are_left_out() {
        let code = "use crate::a;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod t {\n    use crate::b;\n}\n\
                    #[cfg(test)]\nuse crate::{c, d};\nfn f() { crate::e::g() }\n";
        let (kept, test_modules) = drop_test_items(code);
        assert_eq!(test_modules, ["tests"]);
        let paths: Vec<String> = inline_paths(&kept)
            .into_iter()
            .map(|(p, _)| p.join("::"))
            .collect();
        assert_eq!(paths, ["crate::a", "crate::e::g"]);
    }

    #[test]
    fn super_resolves_against_the_files_module() {
        let m = s(&["sources", "file", "tailer"]);
        assert_eq!(
            resolve(&m, &s(&["super", "identity", "FileId"])),
            Some(s(&["sources", "file", "identity", "FileId"]))
        );
        assert_eq!(
            resolve(&m, &s(&["super", "super", "K8sRef"])),
            Some(s(&["sources", "K8sRef"]))
        );
        assert_eq!(
            resolve(&m, &s(&["crate", "framing", "Format"])),
            Some(s(&["framing", "Format"]))
        );
        assert_eq!(resolve(&s(&["diag"]), &s(&["super", "super", "x"])), None);
        assert_eq!(resolve(&m, &s(&["std", "fs"])), None);
    }

    #[test]
    fn only_references_between_siblings_are_edges() {
        let modules: BTreeSet<Vec<String>> = [
            s(&["app"]),
            s(&["app", "daemon"]),
            s(&["app", "pipeline"]),
            s(&["cli"]),
            s(&["sources"]),
        ]
        .into_iter()
        .collect();
        let edge = |from: &[&str], to: &[&str]| siblings(&s(from), &s(to), &modules);
        assert_eq!(
            edge(&["app", "daemon"], &["cli", "RunArgs"]),
            Some(("app".into(), "cli".into()))
        );
        assert_eq!(
            edge(&["app", "daemon"], &["app", "pipeline", "run"]),
            Some(("app::daemon".into(), "app::pipeline".into()))
        );
        // Parent and child, either way: no edge.
        assert_eq!(edge(&["app"], &["app", "daemon", "run"]), None);
        assert_eq!(edge(&["app", "daemon"], &["app", "Settings"]), None);
        // An item of the crate root is not a module.
        assert_eq!(edge(&["app"], &["VERSION"]), None);
    }

    #[test]
    fn a_cycle_fails_and_an_allowed_one_is_reported_until_it_is_gone() {
        let mut edges = Edges::new();
        for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
            edges.insert((a.into(), b.into()), format!("src/{a}.rs:1"));
        }
        let r = check(&edges, &[]);
        assert!(
            r.problems.contains("import cycle: a, b, c"),
            "{}",
            r.problems
        );
        assert!(
            r.problems.contains("c -> a  (src/c.rs:1)"),
            "{}",
            r.problems
        );
        assert!(!r.problems.contains("-> d"), "{}", r.problems);

        let r = check(&edges, &[("c", "a")]);
        assert!(r.problems.is_empty(), "{}", r.problems);
        assert!(r.known.contains("a, b, c"), "{}", r.known);

        // Another edge of the same cycle still counts.
        edges.insert(("b".into(), "a".into()), "src/b.rs:2".into());
        assert!(check(&edges, &[("c", "a")])
            .problems
            .contains("import cycle: a, b"));

        // An allowed edge that closes no cycle any more must be deleted.
        edges.remove(&("c".to_string(), "a".to_string()));
        edges.remove(&("b".to_string(), "a".to_string()));
        let r = check(&edges, &[("c", "a")]);
        assert!(
            r.problems
                .contains("`c -> a` in KNOWN_CYCLE_EDGES no longer"),
            "{}",
            r.problems
        );
    }
}
