//! Thresholds on a verifier differential: `disagreements == 0` over every token, or
//! `alg_none.disagreements == 0` for one class, so a migration can accept a known difference
//! and gate the rest.

use super::thresholds::Op;
use crate::stats::diff::{DiffReport, DiffVerdict};
use crate::token::classes::TokenClass;

/// The one metric a differential is gated on.
pub const METRIC: &str = "disagreements";

/// A parsed `[CLASS.]disagreements OP N`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffThreshold {
    pub name: String,
    pub class: Option<TokenClass>,
    pub op: Op,
    pub limit: u64,
    pub condition: String,
}

impl DiffThreshold {
    /// Parses `NAME OP N` in one string (a `--threshold`).
    pub fn parse_one(text: &str) -> Result<DiffThreshold, String> {
        let at = text.find(['<', '>', '=', '!']).ok_or_else(|| {
            format!("'{text}': expected [CLASS.]disagreements OP N, such as 'disagreements == 0'")
        })?;
        Self::parse(&text[..at], &text[at..])
    }

    /// Parses `name = "condition"`.
    pub fn parse(name: &str, condition: &str) -> Result<DiffThreshold, String> {
        let key = name.trim();
        let class = match key.strip_suffix(METRIC) {
            Some("") => None,
            Some(prefix) => match prefix.strip_suffix('.') {
                Some(c) => Some(c.parse::<TokenClass>()?),
                None => return Err(format!("'{key}': expected [CLASS.]{METRIC}")),
            },
            None => {
                return Err(format!(
                    "'{key}': a differential is gated on {METRIC} (or CLASS.{METRIC}), such as 'disagreements == 0'"
                ));
            }
        };
        let c = condition.trim();
        let (op, rest) = super::thresholds::split_op(c)
            .ok_or_else(|| format!("'{c}': expected an operator (<, <=, >, >=, ==, !=) and a count"))?;
        let limit: u64 = rest
            .parse()
            .map_err(|_| format!("'{c}': the limit is a whole number of tokens"))?;
        Ok(DiffThreshold {
            name: key.to_string(),
            class,
            op,
            limit,
            condition: format!("{} {limit}", op.as_str()),
        })
    }

    /// The threshold's verdict on a differential.
    pub fn evaluate(&self, r: &DiffReport) -> DiffVerdict {
        let value = match self.class {
            None => r.disagreements,
            Some(c) => r.classes.get(c.name()).map_or(0, |x| x.disagreements),
        };
        DiffVerdict {
            name: self.name.clone(),
            condition: self.condition.clone(),
            value,
            passed: self.op.holds(value as f64, self.limit as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_judge() {
        let t = DiffThreshold::parse_one("alg_none.disagreements == 0").unwrap();
        assert_eq!((t.class, t.op, t.limit), (Some(TokenClass::AlgNone), Op::Eq, 0));
        assert!(DiffThreshold::parse_one("p99 < 3").is_err());
        assert!(DiffThreshold::parse_one("nope.disagreements == 0").is_err());
        assert!(DiffThreshold::parse("disagreements", "< x").is_err());
        let mut r = DiffReport {
            disagreements: 3,
            ..DiffReport::default()
        };
        r.classes.insert("alg_none".into(), Default::default());
        assert!(t.evaluate(&r).passed);
        assert!(
            !DiffThreshold::parse("disagreements", "== 0")
                .unwrap()
                .evaluate(&r)
                .passed
        );
    }
}
