//! Replaying a batch against a target: pacing, token order, the transport, the engine and the
//! classification of every response.

pub mod classify;
pub mod engine;
pub mod pacer;
pub mod revoke;
pub mod routes;
pub mod stream;
pub mod tokens;
pub mod transport;
