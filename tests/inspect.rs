//! `inspect` never takes the algorithm from the token: for every pair of algorithms, a token
//! signed with one and checked against keys of another is rejected with `alg_not_allowed`
//! (exit 1), and only the matching pair is accepted.

use std::path::{Path, PathBuf};
use std::process::Command;

use jwtstorm::model::alg;

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One valid token minted with the keys in `dir` (or the given key flags).
fn token(out: &Path, key_flags: &[&str]) -> String {
    let batch = out.join("t.jwts");
    ok(bin()
        .args(["mint", "--count", "1", "--quiet", "--out"])
        .arg(&batch)
        .args(key_flags));
    let text = std::fs::read_to_string(&batch).unwrap();
    let line = text.lines().find(|l| !l.starts_with('#')).unwrap();
    line.rsplit('\t').next().unwrap().to_string()
}

fn inspect(token: &str, key_flags: &[&str]) -> (Option<i32>, String) {
    let out = bin()
        .args(["inspect", token, "--json"])
        .args(key_flags)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_algorithm_comes_from_the_keys_never_from_the_token() {
    let root = tempfile::tempdir().unwrap();
    let mut sets: Vec<(jsonwebtoken::Algorithm, PathBuf, String)> = Vec::new();
    for a in alg::ALL {
        let dir = root.path().join(alg::name(a));
        let mut generate = bin();
        generate
            .args(["keys", "generate", "--alg", alg::name(a), "--out"])
            .arg(&dir);
        if alg::family(a) == alg::Family::Rsa {
            generate.args(["--rsa-bits", "2048"]);
        }
        ok(&mut generate);
        std::fs::create_dir_all(dir.join("batch")).unwrap();
        let t = token(&dir.join("batch"), &["--keys-dir", dir.to_str().unwrap()]);
        sets.push((a, dir, t));
    }
    for (signed, _, t) in &sets {
        for (keys, dir, _) in &sets {
            let (code, json) = inspect(t, &["--keys-dir", dir.to_str().unwrap()]);
            let pair = format!("{} token, {} keys", alg::name(*signed), alg::name(*keys));
            if signed == keys {
                assert_eq!(code, Some(0), "{pair}: {json}");
            } else {
                assert_eq!(code, Some(1), "{pair}: {json}");
                assert!(json.contains("\"alg_not_allowed\""), "{pair}: {json}");
            }
        }
    }
}

#[test]
fn an_hmac_secret_does_not_accept_another_hash_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(
        &secret,
        "an-hmac-secret-of-64-bytes-or-more-for-hs512-tokens-to-be-minted!!",
    )
    .unwrap();
    let s = secret.to_str().unwrap();
    for signed in ["HS256", "HS384", "HS512"] {
        let t = token(dir.path(), &["--secret-file", s, "--alg", signed]);
        // No --alg: the key is HS256 by default, and only HS256 is allowed.
        let (code, json) = inspect(&t, &["--secret-file", s]);
        if signed == "HS256" {
            assert_eq!(code, Some(0), "{json}");
        } else {
            assert_eq!(code, Some(1), "{signed}: {json}");
            assert!(json.contains("\"alg_not_allowed\""), "{signed}: {json}");
        }
        // The policy decides, never the header.
        let (code, json) = inspect(&t, &["--secret-file", s, "--algorithms", signed]);
        assert_eq!(code, Some(0), "{signed} allowed by --algorithms: {json}");
    }
}

#[test]
fn a_token_whose_nbf_lies_ahead_is_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "an-hmac-secret-of-32-bytes-or-more!!").unwrap();
    let s = secret.to_str().unwrap();
    // Valid tokens with nbf one hour ahead of the minting clock.
    let t = token(
        dir.path(),
        &[
            "--secret-file",
            s,
            "--nbf",
            "1h",
            "--ttl",
            "2h",
            "--now",
            "1700000000",
        ],
    );
    let (code, json) = inspect(&t, &["--secret-file", s, "--now", "1700000000"]);
    assert_eq!(code, Some(1), "{json}");
    assert!(json.contains("\"not_yet_valid\""), "{json}");
    let (code, json) = inspect(&t, &["--secret-file", s, "--now", "1700000000", "--no-check-nbf"]);
    assert_eq!(code, Some(0), "{json}");
    // Once nbf has come, it is accepted.
    let (code, json) = inspect(&t, &["--secret-file", s, "--now", "1700003600"]);
    assert_eq!(code, Some(0), "{json}");
}
