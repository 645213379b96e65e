//! Figures and text for people: durations, byte sizes, counts, latencies, metric values, and
//! escaping for HTML and XML. Every renderer and every gate output formats through here.

use std::time::Duration;

use crate::model::Unit;

/// Formats a duration compactly for people: `850µs`, `12.3ms`, `2.50s`.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// Formats a byte count with a binary unit: `512 B`, `1.5 MiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", UNITS[i])
}

/// Whether colour is wanted on stderr/stdout (a terminal, and `NO_COLOR` unset).
pub fn colour(tty: bool) -> bool {
    tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stderr is a terminal that should get progress and colour.
pub fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds as a short human figure: `850µs`, `1.25ms`, `2.40s`.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// A value in a unit, for people: `1.87ms`, `0.012%`, `1998.4/s`, `3`.
pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Micros => micros(v.round() as u64),
        Unit::Count => format!("{v:.0}"),
        Unit::Ratio => format!("{}%", trim(v * 100.0)),
        Unit::PerSecond => format!("{:.1}/s", v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Makes text safe in a Markdown table cell or list item: pipes escaped, line breaks and
/// control characters as spaces, angle brackets as entities.
pub fn escape_markdown(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => o.push_str("\\|"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Escapes text for HTML/XML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(format_duration(Duration::from_micros(12_345)), "12.35ms");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536 * 1024), "1.5 MiB");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(1_250), "1.25ms");
        assert_eq!(micros(2_400_000), "2.40s");
    }

    #[test]
    fn values_and_escaping() {
        assert_eq!(format_value(1870.0, Unit::Micros), "1.87ms");
        assert_eq!(format_value(0.00012, Unit::Ratio), "0.012%");
        assert_eq!(format_value(1998.44, Unit::PerSecond), "1998.4/s");
        assert_eq!(format_value(3.0, Unit::Count), "3");
        assert_eq!(
            escape("<a href='x'>&\u{1}</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;\u{FFFD}&lt;/a&gt;"
        );
    }
}
