//! The architecture test: every `crate::` path in `src/` must point at a module on a lower layer
//! than the file's own, in the order the `layers` block of ARCHITECTURE.md declares. Modules on
//! one line of that block are peers and may not use each other; a module may always use itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of each top-level module, 0 at the bottom, from ARCHITECTURE.md.
fn layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    let block = doc
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```layers block");
    let lines: Vec<&str> = block.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut out = BTreeMap::new();
    // The block is written top (commands) to bottom (model).
    for (i, line) in lines.iter().enumerate() {
        for module in line.split_whitespace() {
            let previous = out.insert(module.to_string(), lines.len() - 1 - i);
            assert!(
                previous.is_none(),
                "module {module} is listed twice in the layers block"
            );
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The leading identifier of each comma-separated item: `a, b::c}` gives `a` and `b`.
fn group_names(items: &str) -> impl Iterator<Item = String> + '_ {
    items
        .split(',')
        .map(|item| {
            item.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
}

/// The top-level modules a file names through `crate::`, with the line each is on.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_group = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // `use crate::{a, b::c};` names several modules, possibly over several lines.
                out.extend(group_names(group).map(|name| (n + 1, name)));
                in_group = !group.contains('}');
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((n + 1, name));
            }
            rest = after;
        }
        if in_group && !line.contains("crate::") {
            out.extend(group_names(line).map(|name| (n + 1, name)));
            if line.contains('}') {
                in_group = false;
            }
        }
    }
    out
}

#[test]
fn no_module_imports_one_above_it() {
    let layers = layers();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = *layers
            .get(&module)
            .unwrap_or_else(|| panic!("src/{module} is not in the layers block of ARCHITECTURE.md"));
        let text = std::fs::read_to_string(file).unwrap();
        for (line, used) in crate_uses(&text) {
            if used == module {
                continue;
            }
            match layers.get(&used) {
                Some(&l) if l < own => {}
                Some(&l) => wrong.push(format!(
                    "src/{}:{line}: {module} (layer {own}) uses {used} (layer {l})",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "src/{}:{line}: uses crate::{used}, which has no layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths() {
    let text = "use crate::model::Outcome;\nuse crate::{units, error::Failure,\n  report::Format};\nlet x = crate::gate::f(); // crate::ignored\n";
    let names: Vec<String> = crate_uses(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["model", "units", "error", "report", "gate"]);
}
