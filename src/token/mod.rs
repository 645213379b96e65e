//! Tokens: algorithms, keys, claim templates, classes, parallel minting and the batch format.

pub mod batch;
pub mod claims;
pub mod classes;
pub mod keys;
pub mod mint;
pub mod policy;
pub mod rng;
