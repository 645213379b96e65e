//! Per-token cost of the reference verifier (keys parsed once), per algorithm family.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use jwtstorm::token::claims::ClaimTemplate;
use jwtstorm::token::classes::TokenClass;
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::mint::{MintConfig, Minter};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::verify::Verifier;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    let now = 1_767_225_600;
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let key = KeyMaterial::generate(alg, None).unwrap();
        let minter = Minter::new(MintConfig {
            alg,
            keys: vec![key.clone()],
            policy: Policy::for_alg(alg),
            count: 1,
            seed: 1,
            now,
            ttl: 900,
            nbf_offset: None,
            iat: true,
            jti: true,
            claims: ClaimTemplate::compile(serde_json::from_str(r#"{"sub":"user-{i}"}"#).unwrap()).unwrap(),
            mix: vec![(TokenClass::Valid, 1.0)],
            size: None,
            idp: None,
        })
        .unwrap();
        let (mut token, mut scratch) = (Vec::new(), Vec::new());
        minter.mint_into(0, &mut token, &mut scratch);
        let verifier = Verifier::new(Policy::for_alg(alg), &[key]).unwrap();
        assert!(verifier.verify(&token, now).is_ok());
        group.bench_function(format!("{alg:?}"), |b| {
            b.iter(|| black_box(verifier.verify(black_box(&token), now)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
