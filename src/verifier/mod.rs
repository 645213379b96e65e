//! The embedded reference verifier: the policy, token verification, and the HTTP server with
//! its fault knobs.

pub mod policy;
pub mod server;
pub mod verify;
