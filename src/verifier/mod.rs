//! The embedded reference verifier: token verification, and the HTTP server with its fault
//! knobs, metrics and request handling.

pub mod handler;
pub mod inspect;
pub mod knobs;
pub mod limit;
pub mod metrics;
pub mod remote;
pub mod revocation;
pub mod server;
pub mod verify;
