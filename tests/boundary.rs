//! The expiry second: a token is valid while `now < exp + leeway` and from `now >= nbf - leeway`
//! (RFC 7519 4.1.4 and 4.1.5), in the labels and the reference verifier alike; answers sent
//! within the guard band around those instants are judged `boundary`, never false.

mod common;

use common::{SECRET, assert_accounted, n, read_results};
use jsonwebtoken::Algorithm;
use jwtstorm::token::claims::ClaimTemplate;
use jwtstorm::token::classes::{Expect, TokenClass};
use jwtstorm::token::keys::KeyMaterial;
use jwtstorm::token::mint::{MintConfig, Minter};
use jwtstorm::token::policy::Policy;
use jwtstorm::verifier::verify::{Reason, Verifier};

fn mint(class: TokenClass, leeway: u64, nbf_offset: Option<i64>) -> (String, Expect, Verifier) {
    let key = KeyMaterial::from_secret(Algorithm::HS256, None, SECRET.as_bytes().to_vec(), "t").unwrap();
    let policy = Policy {
        leeway,
        ..Policy::for_alg(Algorithm::HS256)
    };
    let minter = Minter::new(MintConfig {
        alg: Algorithm::HS256,
        keys: vec![key.clone()],
        policy: policy.clone(),
        count: 1,
        seed: 1,
        now: 1_000_000,
        ttl: 100,
        nbf_offset,
        iat: true,
        jti: true,
        claims: ClaimTemplate::default(),
        mix: vec![(class, 1.0)],
        size: None,
        idp: None,
    })
    .unwrap();
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    let (_, expect) = minter.mint_into(0, &mut out, &mut scratch);
    let verifier = Verifier::new(policy, &[key]).unwrap();
    (String::from_utf8(out).unwrap(), expect, verifier)
}

#[test]
fn the_window_is_pinned_at_both_edges_with_and_without_leeway() {
    for leeway in [0u64, 60] {
        let l = leeway as i64;
        // exp = 1_000_100: valid while now < exp + leeway.
        let (token, expect, verifier) = mint(TokenClass::Valid, leeway, Some(10));
        let (exp_edge, nbf_edge) = (1_000_100 + l, 1_000_010 - l);
        assert_eq!(
            expect,
            Expect::AcceptWithin {
                from: Some(nbf_edge),
                until: Some(exp_edge)
            },
            "leeway {leeway}"
        );
        for (t, want) in [
            (exp_edge - 1, true),
            (exp_edge, false),
            (nbf_edge, true),
            (nbf_edge - 1, false),
        ] {
            assert_eq!(expect.accepts_at(t), want, "label at {t}, leeway {leeway}");
            let got = verifier.verify(token.as_bytes(), t);
            assert_eq!(
                got.is_ok(),
                want,
                "reference verifier at {t}, leeway {leeway}: {got:?}"
            );
        }
        assert_eq!(
            verifier.verify(token.as_bytes(), exp_edge).unwrap_err(),
            Reason::Expired
        );
        assert_eq!(
            verifier.verify(token.as_bytes(), nbf_edge - 1).unwrap_err(),
            Reason::NotYetValid
        );
        // The guard band (1 s wide, centred on each edge).
        for edge in [exp_edge, nbf_edge] {
            let e = edge as f64;
            assert!(expect.near_boundary(e - 0.4, 1.0) && expect.near_boundary(e + 0.4, 1.0));
            assert!(!expect.near_boundary(e - 0.6, 1.0) && !expect.near_boundary(e + 0.6, 1.0));
            assert!(!expect.near_boundary(e, 0.0), "a zero guard turns the band off");
        }
        // not_yet_valid: accepted from nbf - leeway until exp + leeway.
        let (token, expect, verifier) = mint(TokenClass::NotYetValid, leeway, None);
        let Expect::AcceptWithin {
            from: Some(from),
            until: Some(until),
        } = expect
        else {
            panic!("not_yet_valid carries its window")
        };
        for (t, want) in [(from - 1, false), (from, true), (until - 1, true), (until, false)] {
            assert_eq!(expect.accepts_at(t), want, "not_yet_valid label at {t}");
            assert_eq!(
                verifier.verify(token.as_bytes(), t).is_ok(),
                want,
                "not_yet_valid at {t}"
            );
        }
    }
}

/// Tokens that expire mid-run, replayed across their expiry second against the reference
/// verifier: no false verdict, and about one second of traffic judged `boundary`.
#[test]
fn tokens_crossing_their_expiry_mid_run_are_never_judged_falsely() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"t\"\n[target]\nembedded = true\n[verifier]\nleeway = \"0s\"\n[keys]\nalg = \"HS256\"\n\
         secret_file = \"secret\"\n[tokens]\ncount = 2000\nttl = \"3s\"\n[load]\nrate = 400\nduration = \"8s\"\n\
         reuse = 0.5\nconcurrency = 16\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let code = jwtstorm::run(
        <jwtstorm::cli::Cli as clap::Parser>::try_parse_from([
            "jwtstorm",
            "run",
            dir.path().join("s.toml").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(code, 0);
    let r = read_results(&out);
    assert_accounted(&r);
    let t = &r["totals"];
    assert_eq!(n(t, "false_accepts"), 0, "{t}");
    assert_eq!(n(t, "false_rejects"), 0, "{t}");
    // One expiry second crossed at 400 requests/s: the band holds about 400 answers.
    let boundary = n(t, "boundary");
    assert!(
        (150..=700).contains(&boundary),
        "{boundary} answers in the band: {t}"
    );
    assert!(n(t, "correct_accepts") > 0 && n(t, "correct_rejects") > 0, "{t}");
    assert_eq!(n(&r, "classes.valid.verdicts.boundary"), boundary);
}
