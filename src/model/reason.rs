//! Reason-aware judging: how a target's stated rejection reason is read and translated into
//! jwtstorm's vocabulary (`expired`, `bad_signature`, `wrong_audience`, ...), so a token
//! rejected for another reason than its class's can be counted apart.

use std::collections::BTreeMap;

/// Common spellings of verifier libraries and gateways, and the jwtstorm reason each means.
pub const DEFAULT_SYNONYMS: [(&str, &str); 24] = [
    ("bad_audience", "wrong_audience"),
    ("invalid_audience", "wrong_audience"),
    ("audience", "wrong_audience"),
    ("bad_issuer", "wrong_issuer"),
    ("invalid_issuer", "wrong_issuer"),
    ("issuer", "wrong_issuer"),
    ("invalid_signature", "bad_signature"),
    ("signature_invalid", "bad_signature"),
    ("signature_verification_failed", "bad_signature"),
    ("token_expired", "expired"),
    ("expired_token", "expired"),
    ("jwt_expired", "expired"),
    ("exp", "expired"),
    ("immature_signature", "not_yet_valid"),
    ("not_before", "not_yet_valid"),
    ("nbf", "not_yet_valid"),
    ("invalid_algorithm", "alg_not_allowed"),
    ("algorithm_not_allowed", "alg_not_allowed"),
    ("decode_error", "malformed"),
    ("invalid_token_format", "malformed"),
    ("missing_required_claim", "missing_claim"),
    ("key_not_found", "unknown_kid"),
    ("kid_not_found", "unknown_kid"),
    ("token_too_large", "token_too_large"),
];

/// Where the reason is read and how its words translate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonMap {
    /// A top-level field of a JSON body that holds the reason (`error`).
    pub json_field: Option<String>,
    /// The scenario's own translations, over [`DEFAULT_SYNONYMS`].
    pub synonyms: BTreeMap<String, String>,
}

impl ReasonMap {
    /// The jwtstorm reason a stated reason means: lower-cased and trimmed, translated by the
    /// scenario's table, then the defaults; otherwise the word itself.
    pub fn canonical(&self, stated: &str) -> String {
        let word = stated.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        if let Some(r) = self.synonyms.get(&word) {
            return r.clone();
        }
        DEFAULT_SYNONYMS
            .iter()
            .find(|(from, _)| *from == word)
            .map_or(word.clone(), |(_, to)| (*to).to_string())
    }

    /// The reason a JSON body states in the configured field.
    pub fn from_body(&self, body: &[u8]) -> Option<String> {
        let field = self.json_field.as_deref()?;
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        match v.get(field)? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stated_reasons_translate_into_jwtstorm_words() {
        let mut m = ReasonMap::default();
        assert_eq!(m.canonical("Bad-Audience"), "wrong_audience");
        assert_eq!(m.canonical("expired"), "expired");
        assert_eq!(m.canonical("something_else"), "something_else");
        m.synonyms.insert("aud_mismatch".into(), "wrong_audience".into());
        assert_eq!(m.canonical("aud_mismatch"), "wrong_audience");
        m.json_field = Some("error".into());
        assert_eq!(
            m.from_body(br#"{"error":"token_expired"}"#).as_deref(),
            Some("token_expired")
        );
        assert_eq!(m.from_body(b"not json"), None);
    }
}
