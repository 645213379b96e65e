//! The per-request hot path of `run`, without the network: picking a token, building the
//! request, and classifying and recording the response.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use jwtstorm::model::Judgement;
use jwtstorm::model::Placement;
use jwtstorm::model::{Deserved, Stage, StatusSet, StatusSets};
use jwtstorm::replay::pacer::{Pacer, Staged};
use jwtstorm::replay::tokens::{Formatter, Selector, TokenStore};
use jwtstorm::replay::transport::Target;
use jwtstorm::stats::recorder::{Exchange, Recorder};
use jwtstorm::stats::timeline::Seconds;
use jwtstorm::token::claims::ClaimTemplate;
use jwtstorm::token::classes::TokenClass;
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::mint::{MintConfig, Minter};
use jwtstorm::token::policy::Policy;

fn store() -> TokenStore {
    let alg = Algorithm::HS256;
    let minter = Minter::new(MintConfig {
        alg,
        keys: vec![KeyMaterial::generate(alg, None).unwrap()],
        policy: Policy::for_alg(alg),
        count: 10_000,
        seed: 1,
        now: 1_767_225_600,
        ttl: 900,
        nbf_offset: None,
        iat: true,
        jti: true,
        claims: ClaimTemplate::compile(serde_json::from_str(r#"{"sub":"user-{i}"}"#).unwrap()).unwrap(),
        mix: vec![(TokenClass::Valid, 9.0), (TokenClass::Expired, 1.0)],
        size: Some(300),
        idp: None,
    })
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    TokenStore::mint(
        &minter,
        &Formatter::new(Placement::Bearer, "/protected"),
        &pool,
        &stop,
        jwtstorm::model::Segment::WHOLE,
    )
    .expect("not stopped")
}

fn bench(c: &mut Criterion) {
    let store = store();
    let selector = Selector::new(store.len(), None, true, 0.1, 7);
    let target = Target {
        method: hyper::Method::GET,
        uri: "/protected".parse().unwrap(),
        host: hyper::header::HeaderValue::from_static("127.0.0.1:8080"),
        token_header: Some(hyper::header::AUTHORIZATION),
        headers: vec![],
        body: Bytes::new(),
        absolute_prefix: None,
        max_body: 65536,
    };
    let statuses = StatusSets {
        accept: StatusSet::List(vec![200]),
        ..StatusSets::default()
    };
    let pacer = Staged::new(&[
        Stage {
            duration: Duration::from_secs(10),
            rate: 1000.0,
            ramp: false,
        },
        Stage {
            duration: Duration::from_secs(10),
            rate: 5000.0,
            ramp: true,
        },
    ]);

    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("pick and build request", |b| {
        b.iter(|| {
            i += 1;
            let (ti, _) = selector.pick(i);
            black_box(target.request(store.value(ti)).unwrap())
        })
    });
    group.bench_function("pacer due (ramp)", |b| {
        b.iter(|| {
            i = (i + 1) % 60_000;
            black_box(pacer.due(black_box(i)))
        })
    });
    let mut rec = Recorder::default();
    let mut seconds = Seconds::default();
    let mut n = 0u64;
    group.bench_function("classify and record", |b| {
        b.iter(|| {
            n += 1;
            let status = if n.is_multiple_of(10) { 401 } else { 200 };
            let (class, expect) = store.label((n % 10_000) as usize);
            let outcome = statuses.outcome(black_box(status));
            let verdict = Judgement::judge(outcome, Deserved::of(expect.accepts_at(1_767_225_700)));
            let us = 100 + (n % 5000);
            let e = Exchange {
                class,
                outcome,
                verdict,
                status: Some(status),
                error: None,
                corrected: Duration::from_micros(us + 50),
                uncorrected: Duration::from_micros(us),
                warmup: false,
            };
            rec.sent(Some(Duration::from_micros(n % 700)), true, false, false);
            rec.record(&e);
            let second = (n / 100_000) as u32;
            seconds.sent(second);
            seconds.completed(second, outcome, verdict, us + 50);
            if rec.wants_sample(&e) {
                rec.keep_sample(&e, b"body", 0, b"Bearer a.b.c");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
