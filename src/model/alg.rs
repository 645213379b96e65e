//! The signature algorithms jwtstorm mints and verifies, with the facts each one needs.

use jsonwebtoken::Algorithm;

/// Every algorithm jsonwebtoken supports, in the order the CLI lists them.
pub const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The key family an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A shared secret (HS*).
    Hmac,
    /// An RSA key pair (RS*, PS*).
    Rsa,
    /// An EC key pair on P-256 (ES256) or P-384 (ES384).
    Ec,
    /// An Ed25519 key pair (EdDSA).
    Ed,
}

/// The family of `alg`.
pub fn family(alg: Algorithm) -> Family {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        Algorithm::EdDSA => Family::Ed,
        _ => Family::Rsa,
    }
}

/// The name as it appears in a JWT header (`HS256`, `EdDSA`, ...).
pub fn name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

/// Parses an algorithm name exactly as a JWT header spells it.
pub fn parse(text: &str) -> Result<Algorithm, String> {
    ALL.iter().copied().find(|a| name(*a) == text).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|a| name(*a)).collect();
        format!("unknown algorithm '{text}'; expected one of {}", names.join(", "))
    })
}

/// The size in bytes of the hash behind the algorithm (the minimum HMAC secret length).
pub fn hash_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => 48,
        Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => 64,
        _ => 32,
    }
}

/// The RSA modulus size `keys generate` uses by default: 2048 bits for *256, 3072 for *384 and
/// 4096 for *512.
pub fn default_rsa_bits(alg: Algorithm) -> usize {
    match alg {
        Algorithm::RS384 | Algorithm::PS384 => 3072,
        Algorithm::RS512 | Algorithm::PS512 => 4096,
        _ => 2048,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in ALL {
            assert_eq!(parse(name(alg)).unwrap(), alg);
        }
        let err = parse("HS257").unwrap_err();
        assert!(err.contains("HS257") && err.contains("EdDSA"), "{err}");
        assert!(parse("none").is_err());
    }
}
