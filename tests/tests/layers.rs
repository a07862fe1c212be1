//! The runtime's modules import downwards only: every `crate::…` path in
//! `runtime/src` (outside tests) names a module of a lower layer than the
//! one it is written in, by the layer table in `runtime/src/lib.rs`'s
//! docs. A new module must be placed in that table; an upward import (or
//! one through a crate-root re-export) fails here, naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table in lib.rs: module name → layer. Its header row says where
/// the module names end ("what it is" starts the description column).
fn layers(lib: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let mut names_end = None;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        if names_end.is_none() {
            if doc.trim_start().starts_with("layer ") && doc.contains("modules") {
                names_end = doc.find("what it is");
            }
            continue;
        }
        let end = names_end.expect("set above");
        if doc.trim_start().starts_with("```") {
            break;
        }
        let names = doc.get(..end).unwrap_or(doc);
        let mut words = names.split_whitespace();
        let Some(Ok(layer)) = words.next().map(str::parse::<u32>) else {
            continue;
        };
        for word in words {
            out.insert(word.to_owned(), layer);
        }
    }
    assert!(!out.is_empty(), "no layer table found in lib.rs docs");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its tests and comments.
fn code_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name == "tests.rs" || name.starts_with("test_") {
        return None;
    }
    let text = std::fs::read_to_string(path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let mut code = String::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        // A test module: `#[cfg(test)]` then (attributes and comments
        // aside) `mod …`. Everything after it is test code.
        if t == "#[cfg(test)]"
            && lines[i + 1..]
                .iter()
                .map(|l| l.trim_start())
                .find(|l| !l.starts_with("#[") && !l.starts_with("//"))
                .is_some_and(|l| l.starts_with("mod "))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    Some(code)
}

/// Every module named by a `crate::` path in `code`, including the
/// `use crate::{a::…, b}` form.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let before = rest[..at].chars().last();
        rest = after;
        // `$crate::` and identifiers ending in "crate" are not ours.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
            continue;
        }
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn runtime_modules_import_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let table = layers(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let module = first
            .as_os_str()
            .to_str()
            .expect("utf-8")
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" {
            continue;
        }
        let Some(&layer) = table.get(&module) else {
            problems.push(format!(
                "{}: module `{module}` is not in lib.rs's layer table",
                rel.display()
            ));
            continue;
        };
        let Some(code) = code_of(path) else { continue };
        for target in crate_refs(&code) {
            if target == module {
                continue;
            }
            match table.get(&target) {
                Some(&l) if l < layer => {}
                Some(&l) => problems.push(format!(
                    "{}: `{module}` (layer {layer}) imports `{target}` (layer {l})",
                    rel.display()
                )),
                None => problems.push(format!(
                    "{}: `{module}` imports `crate::{target}`, which is no module of the \
                     table (a crate-root item? import it from its own module)",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports that do not run downwards:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_layer_table_is_read_whole() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let table = layers(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    // Spot checks that the parser reads names, not descriptions.
    assert_eq!(table.get("sys"), Some(&1));
    assert_eq!(table.get("executor"), Some(&4));
    assert_eq!(table.get("worker"), Some(&9));
    assert!(!table.contains_key("tasks"), "{table:?}");
    assert!(!table.contains_key("one"), "{table:?}");
}
