//! Shared test support: the HMAC secret the scenarios name, and the real reference verifier
//! started on 127.0.0.1:0 on a runtime of its own, stopped when dropped.
#![allow(dead_code)]

use std::net::SocketAddr;

use jsonwebtoken::Algorithm;
use jwtstorm::model::Placement;
use jwtstorm::token::keys::{JwkSet, KeyMaterial};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::{self, Knobs, Metrics, RunningServer, ServerConfig};
use jwtstorm::verifier::verify::Verifier;

/// The HMAC secret every test scenario's `secret_file` holds.
pub const SECRET: &str = "an-hmac-secret-of-32-bytes-or-more!!";

/// The HS256 key made from [`SECRET`].
pub fn hs256_key() -> KeyMaterial {
    KeyMaterial::from_secret(Algorithm::HS256, None, SECRET.as_bytes().to_vec(), "test").unwrap()
}

/// A server configuration for `/protected` on 127.0.0.1:0 that publishes the public halves of
/// `keys` as its JWKS.
pub fn config(policy: Policy, keys: &[KeyMaterial], knobs: Knobs, placement: Placement) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        path: "/protected".into(),
        placement,
        knobs,
        verifier: Verifier::new(policy, keys).unwrap(),
        jwks: JwkSet {
            keys: keys.iter().map(|k| k.jwk.public()).collect(),
        },
        tls: None,
    }
}

/// The reference verifier on its own runtime; listening once `start` returns.
pub struct Server {
    rt: tokio::runtime::Runtime,
    running: Option<RunningServer>,
}

impl Server {
    /// Starts the server; it is accepting connections when this returns.
    pub fn start(config: ServerConfig) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let running = rt.block_on(server::start(config)).unwrap();
        Server {
            rt,
            running: Some(running),
        }
    }

    /// An HS256 verifier of [`SECRET`] with `policy` and `knobs`, bearer tokens.
    pub fn hs256(policy: Policy, knobs: Knobs) -> Server {
        Server::start(config(policy, &[hs256_key()], knobs, Placement::Bearer))
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().addr
    }

    /// `http://ADDR/protected`.
    pub fn url(&self) -> String {
        format!("http://{}/protected", self.addr())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.running.as_ref().unwrap().metrics
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.stop());
        }
    }
}
