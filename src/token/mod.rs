//! Tokens: algorithms, keys, claim templates, classes, parallel minting and the batch format.

pub mod batch;
pub mod claims;
pub mod classes;
pub mod keys;
pub mod mint;
pub mod policy;
pub mod revocation;
pub mod rng;
pub mod rotation;

/// Where `jku_injection` tokens point on jwtstorm's identity provider: the attacker's key set.
pub const ATTACKER_JWKS_PATH: &str = "/attacker/jwks.json";
/// Where `x5u_injection` tokens point: the attacker's certificate (PEM).
pub const ATTACKER_CERT_PATH: &str = "/attacker/cert.pem";
