//! The fault matrix: small servers on 127.0.0.1:0 misbehave in the ways the reference server's
//! knobs do not (reset, hang, drip, garbage, an endless chunked body, killed mid-run, a backlog
//! that is never accepted), under both load models. Every run keeps its bound, accounts for
//! every scheduled request, exits 0 (some answers) or 3 (none), and writes results that match
//! the schema.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Fixture, assert_accounted, n};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Read the request, then reset the connection.
    Reset,
    /// Read the request and never answer.
    Hang,
    /// Send the headers, then the body a byte every 200 ms.
    Drip,
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// A chunked body that never ends.
    EndlessChunks,
    /// Answer well for half a second, then the whole server goes away.
    KilledMidRun,
    /// A listener that never accepts: connects pile up in a tiny backlog.
    Backlog,
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Reads one request's head (or gives up when the client goes).
async fn read_head(s: &mut tokio::net::TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return false;
        }
    }
    true
}

async fn serve_one(mut s: tokio::net::TcpStream, fault: Fault, healthy: bool) {
    loop {
        if !read_head(&mut s).await {
            return;
        }
        match fault {
            Fault::Reset => {
                // A zero linger makes the close a reset; it does not block (only a non-zero
                // linger does, which is why tokio deprecates the call).
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Fault::Drip => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n")
                    .await;
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if s.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            }
            Fault::Garbage => {
                let _ = s.write_all(b"HELLO THERE\r\n\r\n\x00\x01\x02").await;
                return;
            }
            Fault::EndlessChunks => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await;
                let chunk = format!("400\r\n{}\r\n", "y".repeat(0x400));
                for _ in 0..100_000 {
                    if s.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
                return;
            }
            Fault::KilledMidRun | Fault::Backlog => {
                if !healthy || s.write_all(OK).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Starts a misbehaving server on its own runtime; it lives until the runtime is dropped.
fn start(fault: Fault) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async move {
        if let Fault::Backlog = fault {
            // Bound with the smallest backlog and never accepted.
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let listener = socket.listen(1).unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let _keep = listener;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            });
            return addr;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let healthy = started.elapsed() < Duration::from_millis(500);
                if matches!(fault, Fault::KilledMidRun) && !healthy {
                    // Killed: the listener and every connection go at once.
                    conns.abort_all();
                    return;
                }
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((s, _)) = accepted {
                            conns.spawn(serve_one(s, fault, healthy));
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        });
        addr
    });
    (rt, addr)
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn every_fault_under_both_models_is_bounded_and_accounted_for() {
    let validator = validator();
    let faults = [
        Fault::Reset,
        Fault::Hang,
        Fault::Drip,
        Fault::Garbage,
        Fault::EndlessChunks,
        Fault::KilledMidRun,
        Fault::Backlog,
    ];
    for fault in faults {
        for load in [
            "duration = \"2s\"\nconcurrency = 4\ngrace = \"1s\"",
            "rate = 50\nduration = \"2s\"\nconcurrency = 4\ngrace = \"1s\"",
        ] {
            let (rt, addr) = start(fault);
            let f = Fixture::new(
                &format!(
                    "url = \"http://{addr}/protected\"\ntimeout = \"1s\"\nconnect_timeout = \"500ms\"\nmax_body = 4096"
                ),
                load,
                "count = 200",
            );
            let started = Instant::now();
            let (code, r) = f.run(&[]);
            let took = started.elapsed();
            let case = format!("{fault:?} with {}", load.lines().next().unwrap());
            // duration + timeout + grace, plus minting and start-up on a busy machine.
            assert!(
                took < Duration::from_secs(2 + 1 + 1 + 10),
                "{case}: took {took:?}"
            );
            assert!(code == 0 || code == 3, "{case}: exit {code}");
            assert_eq!(
                code == 3,
                n(&r, "totals.completed") == 0,
                "{case}: exit 3 exactly when nothing answered: {}",
                r["totals"]
            );
            assert_accounted(&r);
            let errors: Vec<String> = validator
                .iter_errors(&r)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{case}: {errors:#?}");
            assert!(n(&r, "totals.scheduled") > 0, "{case}");
            drop(rt);
        }
    }
}
