//! The streaming token source (`tokens.source = "stream"`): fresh tokens where a batch expires,
//! no repeats, the same tokens as a batch but for their times, mint-bound requests counted,
//! batches streamed and wrapped, and memory that does not grow with the run.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::{Fixture, assert_accounted, n};
use jsonwebtoken::Algorithm;
use jwtstorm::model::Placement;
use jwtstorm::replay::stream::{Fill, Stream, StreamSettings};
use jwtstorm::replay::tokens::{Formatter, TokenStore};
use jwtstorm::scenario::resolve::Settings;
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::mint::Minter;

const TARGET: &str = "embedded = true";

/// The two tests that load both cores run one at a time: each measures something (mint-bound
/// requests, peak memory) that the other's load would blur.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
}

#[test]
fn streamed_tokens_stay_fresh_where_a_batch_expires() {
    // Valid tokens that live 3 s, no leeway, over 8 s: a batch minted before the run expires
    // under it; a stream mints each token just before it is sent.
    let f = Fixture::new(
        TARGET,
        "rate = 100\nduration = \"8s\"\nconcurrency = 4",
        "ttl = \"3s\"\nmix = { valid = 1 }",
    );
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario())
            .unwrap()
            .replace("[verifier]\n", "[verifier]\nleeway = \"0s\"\n"),
    )
    .unwrap();
    let (code, batch) = f.run(&["--count", "1000"]);
    assert_eq!(code, 0);
    let expired_in_batch = n(&batch, "classes.valid.verdicts.correct_reject");
    assert!(
        expired_in_batch > 100,
        "a 3 s batch expires in an 8 s run: {}",
        batch["classes"]["valid"]
    );
    assert!(batch["stream"].is_null());

    let (code, stream) = f.run(&["--stream"]);
    assert_eq!(code, 0, "{}", stream["totals"]);
    assert_accounted(&stream);
    let valid = &stream["classes"]["valid"];
    assert_eq!(n(valid, "count"), n(&stream, "totals.completed"));
    assert_eq!(
        n(valid, "verdicts.correct_accept"),
        n(valid, "count"),
        "every streamed valid token is accepted: {valid}"
    );
    assert_eq!(stream["stream"]["from"], "mint");
    assert_eq!(stream["scenario"]["tokens"]["source"], "stream");
    assert!(stream["scenario"]["tokens"]["count"].is_null(), "unbounded");
    // Unbounded: as many distinct tokens as were handed out.
    assert_eq!(n(&stream, "meta.tokens"), n(&stream, "stream.taken"));
    assert!(!stream["meta"]["batch_wrapped"].as_bool().unwrap());
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&stream)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

fn payload(token: &str) -> serde_json::Value {
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap(),
    )
    .unwrap()
}

fn minter(alg: Algorithm, now: i64, valid_only: bool) -> Arc<Minter> {
    let mut s = Settings::default();
    s.tokens.now = Some(now);
    if valid_only {
        s.tokens.mix = vec![(jwtstorm::token::classes::TokenClass::Valid, 1.0)];
    }
    let key = KeyMaterial::generate(alg, None).unwrap();
    Arc::new(Minter::new(s.mint_config(alg, vec![key]).unwrap()).unwrap())
}

fn take_all(stream: &Stream, n: u64) -> Vec<(String, jwtstorm::token::classes::TokenClass)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..n {
            let (p, _) = stream.take(i).await.expect("the stream runs");
            out.push((String::from_utf8(p.value.to_vec()).unwrap(), p.class));
        }
        out
    })
}

fn settings(count: Option<u64>) -> StreamSettings {
    StreamSettings {
        count,
        lead: 2048,
        concurrency: 1,
        shuffle: false,
        reuse: 0.0,
        seed: 1,
        lead_time: Duration::from_secs(2),
        segment: jwtstorm::model::Segment::WHOLE,
    }
}

#[test]
fn a_stream_is_the_batch_but_for_its_clock_and_never_repeats() {
    const NOW: i64 = 1_800_000_000;
    let fmt = Formatter::new(Placement::Header("x".into()), "/");
    for alg in [Algorithm::HS256, Algorithm::EdDSA] {
        let m = minter(alg, NOW, false);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let batch =
            TokenStore::mint_first(&m, 3000, &fmt, &pool, &Default::default(), Default::default()).unwrap();
        let stream = Stream::start(
            Fill::Mint {
                minter: m.clone(),
                clock: Arc::new(|| NOW),
                pool: rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap(),
                rotation: None,
            },
            fmt.clone(),
            settings(None),
        )
        .unwrap();
        let streamed = take_all(&stream, 3000);
        for (i, (token, class)) in streamed.iter().enumerate() {
            assert_eq!(token.as_bytes(), &batch.value(i)[..], "{alg:?} token {i}");
            assert_eq!(*class, batch.label(i).0);
        }
        // A clock that moves changes the time claims only.
        let later = Stream::start(
            Fill::Mint {
                minter: m.clone(),
                clock: Arc::new(|| NOW + 600),
                pool: rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap(),
                rotation: None,
            },
            fmt.clone(),
            settings(None),
        )
        .unwrap();
        let (moved, class) = take_all(&later, 1).remove(0);
        if class == jwtstorm::token::classes::TokenClass::Valid {
            let (a, b) = (payload(&streamed[0].0), payload(&moved));
            assert_eq!(b["iat"].as_i64().unwrap() - a["iat"].as_i64().unwrap(), 600);
            assert_eq!(a["jti"], b["jti"]);
        }
    }
    // Unbounded: 20,000 tokens, 20,000 distinct jti; with a count of 100 the stream wraps.
    let m = minter(Algorithm::HS256, NOW, true);
    let fill = |m: &Arc<Minter>| Fill::Mint {
        minter: m.clone(),
        clock: Arc::new(jwtstorm_now),
        pool: rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap(),
        rotation: None,
    };
    let stream = Stream::start(fill(&m), fmt.clone(), settings(None)).unwrap();
    let tokens = take_all(&stream, 20_000);
    let jti: std::collections::HashSet<String> = tokens
        .iter()
        .map(|(t, _)| payload(t)["jti"].as_str().expect("a jti").to_string())
        .collect();
    assert_eq!(jti.len(), 20_000, "no jti repeats");
    assert!(!stream.wrapped());
    assert_eq!(stream.distinct(), 20_000);
    let wrapping = Stream::start(fill(&m), fmt, settings(Some(100))).unwrap();
    let _ = take_all(&wrapping, 250);
    assert!(wrapping.wrapped());
    assert_eq!(wrapping.distinct(), 100);
}

fn jwtstorm_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn mint_bound_requests_are_counted_and_none_otherwise() {
    let _one_at_a_time = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // RS512 (a 4,096-bit key) on one minting thread signs a few hundred tokens a second;
    // verifying one costs far less. At 2,000/s the first lead (at most 3 s of minting) runs out.
    let f = Fixture::new(
        TARGET,
        "rate = 2000\nduration = \"3s\"\nconcurrency = 32",
        "mix = { valid = 1 }",
    );
    let dir = f.dir.path();
    let run = |extra: &[&str], threads: &str| {
        let out = bin()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "run",
                f.scenario().to_str().unwrap(),
                "--stream",
                "-q",
                "--no-preflight",
                "--out",
            ])
            .arg(dir.join("out"))
            .args(extra)
            .output()
            .unwrap();
        (out, common::read_results(&dir.join("out")))
    };
    let (out, slow) = run(&["--alg", "RS512", "--generate-keys"], "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("will be mint-bound"), "the start warns: {stderr}");
    assert!(n(&slow, "stream.mint_bound") > 0, "{}", slow["stream"]);
    assert!(n(&slow, "stream.longest_wait_us") > 10_000, "{}", slow["stream"]);
    let summary = std::fs::read_to_string(dir.join("out/summary.md")).unwrap();
    assert!(summary.contains("**Mint-bound**"), "{summary}");
    // HS256 at 500/s: minting stays ahead.
    let (_, fast) = run(&["--rate", "500"], "1");
    assert_eq!(n(&fast, "stream.mint_bound"), 0, "{}", fast["stream"]);
    assert!(n(&fast, "stream.taken") >= n(&fast, "totals.sent"));
}

#[test]
fn a_batch_is_streamed_and_wraps_by_reopening() {
    let f = Fixture::new(TARGET, "rate = 400\nduration = \"2s\"\nconcurrency = 4", "");
    let dir = f.dir.path();
    let batch = dir.join("b.jwts");
    let out = bin()
        .args(["mint", "--secret-file"])
        .arg(dir.join("secret"))
        .args([
            "--audience",
            "api://orders",
            "--issuer",
            "https://auth.example.test",
        ])
        .args([
            "-n",
            "300",
            "--mix",
            "valid=3,expired=1",
            "--ttl",
            "1h",
            "--quiet",
            "--out",
        ])
        .arg(&batch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(f.scenario()).unwrap().replace(
        "[tokens]\n",
        &format!("[tokens]\nsource = \"stream\"\nbatch = \"{}\"\n", batch.display()),
    );
    std::fs::write(f.scenario(), text).unwrap();
    let (code, r) = f.run(&[]);
    assert_eq!(code, 0);
    assert_accounted(&r);
    assert_eq!(r["stream"]["from"], "batch");
    // 800 requests from 300 tokens: the file was read again from its start.
    assert!(r["meta"]["batch_wrapped"].as_bool().unwrap());
    assert_eq!(n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"), 0);
    assert!(n(&r, "classes.expired.verdicts.correct_reject") > 0);
    // A bad line anywhere in the file is refused before anything is sent, by line.
    let mut lines = std::fs::read_to_string(&batch).unwrap();
    lines.push_str("valid\taccept\tnot-a-token-line-without-enough-fields\n");
    lines.push_str("nonsense line\n");
    std::fs::write(&batch, lines).unwrap();
    let out = bin()
        .args(["run", f.scenario().to_str().unwrap(), "-q", "--out"])
        .arg(dir.join("bad"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("b.jwts:") && err.contains("three tab-separated columns"),
        "{err}"
    );
}

/// Peak resident memory of a run, from /proc while it runs (kilobytes).
fn peak_rss_kb(args: &[&str]) -> u64 {
    let mut child = bin().args(args).spawn().unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

#[test]
fn memory_does_not_grow_with_the_run() {
    let _one_at_a_time = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // 10 s and 30 s of fresh tokens at 5,000/s: 50,000 against 150,000 tokens. Pre-minted, the
    // extra 100,000 would take about 35 MB; streamed, the peak stays within a few MB.
    let f = Fixture::new(TARGET, "rate = 5000\nconcurrency = 16", "mix = { valid = 1 }");
    let scenario = f.scenario();
    let out = f.dir.path().join("out");
    let args = |d: &'static str| {
        vec![
            "run".to_string(),
            scenario.to_str().unwrap().to_string(),
            "--stream".into(),
            "-q".into(),
            "-d".into(),
            d.into(),
            "--out".into(),
            out.to_str().unwrap().to_string(),
        ]
    };
    let short = args("10s");
    let long = args("30s");
    let a = peak_rss_kb(&short.iter().map(String::as_str).collect::<Vec<_>>());
    let b = peak_rss_kb(&long.iter().map(String::as_str).collect::<Vec<_>>());
    let r = common::read_results(&out);
    assert!(n(&r, "stream.taken") > 100_000, "{}", r["stream"]);
    assert!(
        b < a + 16 * 1024,
        "peak RSS {a} kB for 10 s, {b} kB for 30 s: memory grew with the run"
    );
}

#[test]
fn unbounded_needs_a_stream() {
    let f = Fixture::new(TARGET, "rate = 100\nduration = \"2s\"", "count = \"unbounded\"");
    let out = bin()
        .args(["validate", f.scenario().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tokens.count") && err.contains("tokens.source"),
        "{err}"
    );
    let out = bin()
        .args(["validate", f.scenario().to_str().unwrap(), "--stream"])
        .output()
        .unwrap();
    // The scenario's count is read before the flag: still refused, by the scenario's line.
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario()).unwrap().replace(
            "count = \"unbounded\"",
            "source = \"stream\"\ncount = \"unbounded\"",
        ),
    )
    .unwrap();
    let out = bin()
        .args(["validate", f.scenario().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("an unbounded stream of HS256 tokens"));
    let out = bin()
        .args(["validate", "--url", "http://127.0.0.1:9/p", "--secret-file"])
        .arg(f.dir.path().join("secret"))
        .args(["--count", "unbounded"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count unbounded: needs --stream"));
}

#[test]
fn segments_share_the_batch_and_the_stream_without_overlap() {
    use jwtstorm::model::Segment;
    const NOW: i64 = 1_800_000_000;
    let fmt = Formatter::new(Placement::Header("x".into()), "/");
    let m = minter(Algorithm::HS256, NOW, false);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let stop = Default::default();
    let whole = TokenStore::mint_first(&m, 3000, &fmt, &pool, &stop, Segment::WHOLE).unwrap();
    let mut union = std::collections::BTreeMap::new();
    for i in 0..3 {
        let seg = Segment::new(i, 3).unwrap();
        // The segment's share of the first 3000: the batch's tokens i, i+3, ...
        let part = TokenStore::mint_first(&m, 1000, &fmt, &pool, &stop, seg).unwrap();
        for k in 0..part.len() {
            let g = part.batch_index(k);
            assert_eq!(g % 3, i);
            assert_eq!(&part.value(k)[..], &whole.value(g as usize)[..], "token {g}");
            assert!(union.insert(g, ()).is_none(), "token {g} in two segments");
        }
        // A stream of the segment hands out the same tokens, in the same order.
        let stream = Stream::start(
            Fill::Mint {
                minter: m.clone(),
                clock: Arc::new(|| NOW),
                pool: rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap(),
                rotation: None,
            },
            fmt.clone(),
            StreamSettings {
                segment: seg,
                ..settings(None)
            },
        )
        .unwrap();
        for (k, (token, _)) in take_all(&stream, 1000).iter().enumerate() {
            assert_eq!(
                token.as_bytes(),
                &part.value(k)[..],
                "segment {i} stream token {k}"
            );
        }
    }
    assert_eq!(union.len(), 3000);
}
