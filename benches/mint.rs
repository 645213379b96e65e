//! Per-token minting cost for every algorithm family (one thread): the signer is built once,
//! the header pre-encoded, buffers reused. Whole-process figures: see the README.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use jwtstorm::scenario::resolve::TokenSettings;
use jwtstorm::token::claims::ClaimTemplate;
use jwtstorm::token::classes::TokenClass;
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::mint::{MintConfig, Minter};
use jwtstorm::token::policy::Policy;

fn minter(alg: Algorithm) -> Minter {
    let defaults = TokenSettings::default();
    Minter::new(MintConfig {
        alg,
        keys: vec![KeyMaterial::generate(alg, None).unwrap()],
        policy: Policy::for_alg(alg),
        count: u64::MAX,
        seed: 1,
        now: 1_767_225_600,
        ttl: 900,
        nbf_offset: None,
        iat: true,
        jti: true,
        claims: ClaimTemplate::compile(defaults.claims).unwrap(),
        mix: vec![(TokenClass::Valid, 1.0)],
        size: None,
        idp: None,
    })
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mint_line");
    group.throughput(Throughput::Elements(1));
    for alg in [
        Algorithm::HS256,
        Algorithm::HS512,
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::PS256,
    ] {
        let m = minter(alg);
        let (mut out, mut scratch) = (Vec::with_capacity(1024), Vec::with_capacity(512));
        let mut i = 0u64;
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| {
                out.clear();
                i += 1;
                black_box(m.mint_line(i, &mut out, &mut scratch));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
