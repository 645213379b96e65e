//! A small YAML writer for manifests built as JSON values: block mappings and sequences,
//! strings double-quoted (JSON escapes are valid YAML) or, when they span lines, as literal
//! blocks, so a scenario in a ConfigMap reads as the file it is.

use serde_json::Value;

/// One YAML document for `v`.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    node(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).expect("a string serializes"),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        _ => unreachable!("only scalars and empty collections are inline"),
    }
}

fn inline(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => !literal(s),
        _ => true,
    }
}

/// Whether a string is written as a literal block: it spans lines, and every line can stand
/// in one (no tabs or carriage returns, no leading space on the first line).
fn literal(s: &str) -> bool {
    s.contains('\n')
        && !s.contains(['\r', '\t'])
        && !s.starts_with(' ')
        && s.chars().all(|c| !c.is_control() || c == '\n')
}

fn block(s: &str, indent: usize, out: &mut String) {
    let chomp = if s.ends_with("\n\n") {
        "+"
    } else if s.ends_with('\n') {
        ""
    } else {
        "-"
    };
    out.push_str(&format!("|{chomp}\n"));
    let pad = " ".repeat(indent);
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !k.starts_with(['-', '.', '/'])
        && !matches!(
            k,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        && k.parse::<f64>().is_err();
    if plain {
        k.to_string()
    } else {
        serde_json::to_string(k).expect("a string serializes")
    }
}

/// Writes `x` on the line of its key or dash when it fits there (a scalar, an empty
/// collection, a literal block); `false` when it needs lines of its own.
fn after_marker(x: &Value, indent: usize, out: &mut String) -> bool {
    match x {
        Value::String(s) if literal(s) => {
            out.push(' ');
            block(s, indent + 2, out);
            true
        }
        _ if inline(x) => {
            out.push(' ');
            out.push_str(&scalar(x));
            out.push('\n');
            true
        }
        _ => false,
    }
}

fn node(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                if after_marker(x, indent, out) {
                    continue;
                }
                match x {
                    Value::Array(_) => {
                        out.push('\n');
                        node(x, indent, out);
                    }
                    _ => {
                        out.push('\n');
                        node(x, indent + 2, out);
                    }
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                out.push_str(&pad);
                out.push('-');
                if !after_marker(x, indent, out) {
                    // The first line of a mapping or sequence goes beside the dash.
                    let mut inner = String::new();
                    node(x, indent + 2, &mut inner);
                    out.push(' ');
                    out.push_str(inner.trim_start_matches(' '));
                }
            }
        }
        Value::String(s) if literal(s) => block(s, indent, out),
        _ => {
            out.push_str(&pad);
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_block_yaml() {
        let v = serde_json::json!({
            "a": 1,
            "b": ["x", {"c": true, "d": []}],
            "text": "one\ntwo\n",
            "odd key": "a: b",
            "on": "yes"
        });
        let y = to_yaml(&v);
        assert_eq!(
            y,
            "a: 1\nb:\n- \"x\"\n- c: true\n  d: []\n\"odd key\": \"a: b\"\n\"on\": \"yes\"\ntext: |\n  one\n  two\n"
        );
    }
}
