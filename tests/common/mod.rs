//! Shared test support: the HMAC secret the scenarios name, and the real reference verifier
//! started on 127.0.0.1:0 on a runtime of its own, stopped when dropped.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use jwtstorm::cli::Cli;
use serde_json::Value;

use jsonwebtoken::Algorithm;
use jwtstorm::model::Placement;
use jwtstorm::token::keys::{JwkSet, KeyMaterial};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::server::{self, Knobs, Limits, Metrics, RunningServer, ServerConfig};
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
        remote: None,
        follow_header_keys: false,
        jwks: JwkSet {
            keys: keys.iter().map(|k| k.jwk.public()).collect(),
        },
        tls: None,
        limits: Limits::default(),
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

/// A folder with a secret file and a scenario that points at `url`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(target: &str, load: &str, tokens: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), SECRET).unwrap();
        let text = format!(
            "name = \"t\"\n[target]\n{target}\n[verifier]\naudience = \"api://orders\"\nissuer = \"https://auth.example.test\"\n\
             [keys]\nalg = \"HS256\"\nsecret_file = \"secret\"\n[tokens]\n{tokens}\n[load]\n{load}\n"
        );
        std::fs::write(dir.path().join("s.toml"), text).unwrap();
        Fixture { dir }
    }

    pub fn scenario(&self) -> PathBuf {
        self.dir.path().join("s.toml")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Runs the scenario in-process; returns the exit code and the results.
    pub fn run(&self, extra: &[&str]) -> (i32, Value) {
        let scenario = self.scenario();
        let out = self.out();
        let mut argv = vec![
            "jwtstorm",
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            // These tests are about the run itself, faults included; `tests/preflight.rs` is
            // about the preflight.
            "--no-preflight",
        ];
        argv.extend_from_slice(extra);
        let code = match jwtstorm::run(Cli::try_parse_from(argv).unwrap()) {
            Ok(c) => c,
            Err(f) => {
                eprintln!("run failed: {f}");
                f.code
            }
        };
        (code, read_results(&out))
    }
}

pub fn read_results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json is written");
    serde_json::from_str(&text).unwrap()
}

pub fn n(v: &Value, path: &str) -> u64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("{path} is not a count: {cur}"))
}

/// scheduled = completed + transport_errors + cancelled, and the classes add up to the totals.
pub fn assert_accounted(r: &Value) {
    let t = &r["totals"];
    assert_eq!(
        n(t, "scheduled"),
        n(t, "completed") + n(t, "transport_errors") + n(t, "cancelled"),
        "{t}"
    );
    assert_eq!(
        n(t, "completed"),
        n(t, "accepted") + n(t, "rejected") + n(t, "forbidden") + n(t, "limited") + n(t, "unexpected_status")
    );
    let classes = r["classes"].as_object().unwrap();
    let total: u64 = classes.values().map(|c| n(c, "count")).sum();
    assert_eq!(total, n(t, "completed") + n(t, "transport_errors"));
    let codes: u64 = r["status_codes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(codes, n(t, "completed"));
    let errors: u64 = r["transport_errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(errors, n(t, "transport_errors"));
}

/// `jwtstorm run` of the fixture's scenario in a child process, with stderr to read line by line
/// (the lines that say it is preparing, then running, are the readiness signals).
pub fn spawn_run(f: &Fixture) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .args([
            "run",
            f.scenario().to_str().unwrap(),
            "--out",
            f.out().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    (child, stderr)
}

/// The next line of a child's stderr.
pub fn next_line(r: &mut impl std::io::BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// A port on 127.0.0.1 that refuses connections and stays reserved while this lives: bound but
/// never listening, so no other test's server can be given it meanwhile.
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

pub fn refused_port() -> RefusedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    RefusedPort {
        _socket: socket,
        port,
    }
}

/// `jwtstorm serve` as its own process on 127.0.0.1:0; killed when dropped.
pub struct Serve {
    child: std::process::Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Serve {
    pub fn start(extra: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
            .args(["serve", "--listen", "127.0.0.1:0", "--exit-after", "120s"])
            .args([
                "--audience",
                "api://orders",
                "--issuer",
                "https://auth.example.test",
            ])
            .arg("--secret-file")
            .arg(&secret)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{line}"))
            .parse()
            .unwrap();
        Serve {
            child,
            addr,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/protected", self.addr)
    }

    /// A counter from the verifier's own `/metrics`, over HTTP.
    pub fn counter(&self, outcome: &str) -> u64 {
        self.sum(&format!("jwtstorm_server_requests_total{{outcome=\"{outcome}\""))
    }

    /// The sum of the verifier's `/metrics` samples whose line starts with `prefix`.
    pub fn sum(&self, prefix: &str) -> u64 {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks results against the published schema.
pub fn assert_schema(r: &Value) {
    assert_matches_schema(include_str!("../../schema/results.schema.json"), r);
}

/// Checks a document against a JSON Schema's text.
pub fn assert_matches_schema(schema: &str, r: &Value) {
    let schema: Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(r)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
