//! The reference server's counters and verification-latency histogram, rendered for Prometheus.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::verify::Reason;

/// Latency buckets of the verification histogram, in seconds.
const BUCKETS: [f64; 12] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 1e-1,
];

/// Counters the server keeps; read by `/metrics` and by tests in-process.
#[derive(Debug, Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    /// Verified tokens answered 429: over the rate limit.
    pub limited: AtomicU64,
    /// Verified tokens answered 403: without the scope the path needs.
    pub forbidden: AtomicU64,
    pub(super) rejected: [AtomicU64; Reason::ALL.len()],
    pub injected_500: AtomicU64,
    pub injected_close: AtomicU64,
    pub injected_hang: AtomicU64,
    /// Connections closed on accept because the connection cap was reached.
    pub refused_connections: AtomicU64,
    /// Key fetches: the remote JWKS and a token's own `jku`/`x5u` (the vulnerable option).
    pub fetches: std::sync::Arc<super::remote::FetchCounters>,
    /// Per protected path (the main one first): answers by status class, for checking how a
    /// run spread its requests over endpoints.
    pub paths: Vec<PathCounters>,
    /// The revocation list, when one is followed.
    pub revocations: Option<std::sync::Arc<super::revocation::Watch>>,
    buckets: [AtomicU64; BUCKETS.len()],
    verify_count: AtomicU64,
    verify_nanos: AtomicU64,
}

/// One protected path's answers: 2xx, 401, 403, 429, other (a closed connection included).
#[derive(Debug, Default)]
pub struct PathCounters {
    pub path: String,
    pub answers: [AtomicU64; 5],
}

/// The labels of [`PathCounters::answers`].
pub const PATH_ANSWERS: [&str; 5] = ["accepted", "rejected", "forbidden", "limited", "other"];

impl Metrics {
    /// Counts a protected path's answer.
    pub(super) fn count_path<E>(&self, i: usize, r: &Result<super::handler::Resp, E>) {
        let Some(p) = self.paths.get(i) else { return };
        let k = match r.as_ref().map(|r| r.status().as_u16()) {
            Ok(200..=299) => 0,
            Ok(401) => 1,
            Ok(403) => 2,
            Ok(429) => 3,
            _ => 4,
        };
        p.answers[k].fetch_add(1, Ordering::Relaxed);
    }

    /// A path's count of one answer (`accepted`, ...); 0 for a path it does not serve.
    pub fn path_count(&self, path: &str, answer: &str) -> u64 {
        let k = PATH_ANSWERS.iter().position(|a| *a == answer);
        self.paths
            .iter()
            .find(|p| p.path == path)
            .zip(k)
            .map_or(0, |(p, k)| p.answers[k].load(Ordering::Relaxed))
    }

    /// Requests rejected for `reason`.
    pub fn rejected(&self, reason: Reason) -> u64 {
        self.rejected[reason as usize].load(Ordering::Relaxed)
    }

    /// All rejected requests.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub(super) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.verify_count.fetch_add(1, Ordering::Relaxed);
        self.verify_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(4096);
        s.push_str("# HELP jwtstorm_server_requests_total Protected-path requests by outcome and reason.\n");
        s.push_str("# TYPE jwtstorm_server_requests_total counter\n");
        let _ = writeln!(
            s,
            "jwtstorm_server_requests_total{{outcome=\"accepted\",reason=\"\"}} {}",
            self.accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "jwtstorm_server_requests_total{{outcome=\"limited\",reason=\"rate_limit\"}} {}",
            self.limited.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "jwtstorm_server_requests_total{{outcome=\"forbidden\",reason=\"insufficient_scope\"}} {}",
            self.forbidden.load(Ordering::Relaxed)
        );
        for r in Reason::ALL {
            let _ = writeln!(
                s,
                "jwtstorm_server_requests_total{{outcome=\"rejected\",reason=\"{}\"}} {}",
                r.as_str(),
                self.rejected(r)
            );
        }
        for (fault, c) in [
            ("status_500", &self.injected_500),
            ("closed", &self.injected_close),
            ("hang", &self.injected_hang),
        ] {
            let _ = writeln!(
                s,
                "jwtstorm_server_requests_total{{outcome=\"injected_fault\",reason=\"{fault}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP jwtstorm_server_refused_connections_total Connections closed at accept: the cap was reached.\n");
        s.push_str("# TYPE jwtstorm_server_refused_connections_total counter\n");
        let _ = writeln!(
            s,
            "jwtstorm_server_refused_connections_total {}",
            self.refused_connections.load(Ordering::Relaxed)
        );
        s.push_str("# HELP jwtstorm_server_key_fetches_total Key fetches: the JWKS URL (by result) and a token's own jku/x5u header.\n");
        s.push_str("# TYPE jwtstorm_server_key_fetches_total counter\n");
        let f = &self.fetches;
        for (source, result, c) in [
            ("jwks", "all", &f.fetches),
            ("jwks", "failed", &f.failures),
            ("jwks", "not_modified", &f.not_modified),
            ("jwks", "unknown_kid", &f.unknown_kid_refetches),
            ("header", "all", &f.header_fetches),
        ] {
            let _ = writeln!(
                s,
                "jwtstorm_server_key_fetches_total{{source=\"{source}\",result=\"{result}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP jwtstorm_server_path_requests_total Protected-path answers per path.\n");
        s.push_str("# TYPE jwtstorm_server_path_requests_total counter\n");
        for p in &self.paths {
            for (answer, c) in PATH_ANSWERS.iter().zip(&p.answers) {
                let _ = writeln!(
                    s,
                    "jwtstorm_server_path_requests_total{{path=\"{}\",answer=\"{answer}\"}} {}",
                    p.path.replace(['"', '\\', '\n'], "_"),
                    c.load(Ordering::Relaxed)
                );
            }
        }
        if let Some(list) = &self.revocations {
            for (name, kind, help, v) in [
                (
                    "revocation_list_entries",
                    "gauge",
                    "Ids on the revocation list in force.",
                    &list.entries,
                ),
                (
                    "revocation_list_reloads_total",
                    "counter",
                    "Times the revocation list file was read again after it changed.",
                    &list.reloads,
                ),
                (
                    "revocation_list_failures_total",
                    "counter",
                    "Times a changed revocation list file could not be read (the last good list stayed).",
                    &list.failures,
                ),
            ] {
                let _ = writeln!(s, "# HELP jwtstorm_server_{name} {help}");
                let _ = writeln!(s, "# TYPE jwtstorm_server_{name} {kind}");
                let _ = writeln!(s, "jwtstorm_server_{name} {}", v.load(Ordering::Relaxed));
            }
        }
        s.push_str("# HELP jwtstorm_server_verify_seconds Time spent verifying one token.\n");
        s.push_str("# TYPE jwtstorm_server_verify_seconds histogram\n");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "jwtstorm_server_verify_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.verify_count.load(Ordering::Relaxed);
        let _ = writeln!(s, "jwtstorm_server_verify_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "jwtstorm_server_verify_seconds_sum {}",
            self.verify_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(s, "jwtstorm_server_verify_seconds_count {count}");
        s
    }
}
