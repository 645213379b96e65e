//! `jwtstorm keys generate` and `jwtstorm mint` through the real binary: determinism across
//! thread counts, key files, and one clear exit-2 message for each kind of bad input.

use std::path::Path;

use assert_cmd::Command;
use jwtstorm::token::batch::BatchReader;
use jwtstorm::token::classes::TokenClass;

fn jwtstorm() -> Command {
    Command::cargo_bin("jwtstorm").unwrap()
}

fn keys(dir: &Path, alg: &str) -> std::path::PathBuf {
    let out = dir.join(format!("keys-{alg}"));
    jwtstorm()
        .args(["keys", "generate", "--alg", alg, "--out"])
        .arg(&out)
        .assert()
        .success();
    out
}

#[test]
fn keys_generate_writes_private_files_0600_and_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k");
    let run = jwtstorm()
        .args(["keys", "generate", "--alg", "HS256", "--count", "3", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("keys.json")).unwrap()).unwrap();
    let entries = index["keys"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let printed = String::from_utf8_lossy(&run.stdout).to_string() + &String::from_utf8_lossy(&run.stderr);
    for e in entries {
        let secret = std::fs::read_to_string(out.join(e["private"].as_str().unwrap())).unwrap();
        assert!(secret.len() >= 32);
        assert!(!printed.contains(&secret), "a secret was printed");
        assert!(printed.contains(e["kid"].as_str().unwrap()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(out.join(e["private"].as_str().unwrap()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
    // A second run refuses to overwrite without --force.
    jwtstorm()
        .args(["keys", "generate", "--alg", "HS256", "--out"])
        .arg(&out)
        .assert()
        .code(2);

    let ec = keys(dir.path(), "ES256");
    let jwks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ec.join("jwks.json")).unwrap()).unwrap();
    let k = &jwks["keys"][0];
    assert_eq!(k["kty"], "EC");
    assert!(k["kid"].is_string() && k.get("d").is_none());
}

fn mint(args: &[&str], out: &Path) -> Vec<u8> {
    let seeded = if args.contains(&"--seed") {
        vec![]
    } else {
        vec!["--seed", "11"]
    };
    jwtstorm()
        .args(["mint", "--quiet", "--now", "1767225600"])
        .args(seeded)
        .args(args)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    std::fs::read(out).unwrap()
}

#[test]
fn same_seed_and_clock_give_identical_bytes_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["HS256", "RS256", "EdDSA"] {
        let k = keys(dir.path(), alg);
        let kd = k.to_str().unwrap();
        let n = if alg == "RS256" { "600" } else { "70000" };
        let mix = "valid=80,expired=5,bad_signature=5,malformed=5,wrong_segment_count=5";
        let one = mint(
            &["--keys-dir", kd, "-n", n, "--mix", mix, "-j", "1"],
            &dir.path().join("a.jwts"),
        );
        let two = mint(
            &["--keys-dir", kd, "-n", n, "--mix", mix, "-j", "2"],
            &dir.path().join("b.jwts"),
        );
        assert!(one == two, "{alg}: batches differ between 1 and 2 threads");
        let other_seed = mint(
            &["--keys-dir", kd, "-n", n, "--mix", mix, "--seed", "12"],
            &dir.path().join("c.jwts"),
        );
        assert!(one != other_seed, "{alg}: the seed changes the batch");
        let entries: Vec<_> = BatchReader::open(&dir.path().join("a.jwts"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(entries.len(), n.parse::<usize>().unwrap());
        assert!(entries.iter().any(|e| e.class == TokenClass::Expired));
    }
}

#[test]
fn manifest_records_counts_and_key_fingerprint_but_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path(), "HS256");
    let out = dir.path().join("m.jwts");
    mint(
        &[
            "--keys-dir",
            k.to_str().unwrap(),
            "-n",
            "1000",
            "--claim",
            "scope=orders:read",
            "--size",
            "600",
        ],
        &out,
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("m.jwts.manifest.json")).unwrap()).unwrap();
    let per_class: u64 = manifest["per_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_class, 1000);
    assert_eq!(manifest["count"], 1000);
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["now"], 1767225600);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(k.join("keys.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["keys"][0]["fingerprint"],
        index["keys"][0]["fingerprint"]
    );
    let secret = std::fs::read_to_string(k.join(index["keys"][0]["private"].as_str().unwrap())).unwrap();
    assert!(
        !String::from_utf8_lossy(&std::fs::read(dir.path().join("m.jwts.manifest.json")).unwrap())
            .contains(&secret)
    );
    // Padded valid tokens come to about the target size.
    for e in BatchReader::open(&out)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.class == TokenClass::Valid)
    {
        assert!(
            (590..=600).contains(&e.token.len()),
            "valid token of {} bytes",
            e.token.len()
        );
    }
}

/// Runs a failing mint and returns stderr; checks exit 2 and that no output was left behind.
fn fails(args: &[&str], dir: &Path) -> String {
    let out = dir.join("bad.jwts");
    let run = jwtstorm()
        .arg("mint")
        .args(args)
        .arg("--out")
        .arg(&out)
        .env_remove("JWT_EMPTY")
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(2),
        "args {args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!out.exists(), "args {args:?}: left an output file");
    assert!(!dir.join("bad.jwts.partial").exists());
    String::from_utf8_lossy(&run.stderr).into_owned()
}

#[test]
fn bad_input_gets_one_clear_message_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = keys(d, "ES256");
    let ec_pem = std::fs::read_dir(&ec)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".key.pem"))
        .unwrap();
    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let empty = d.join("empty.secret");
    std::fs::write(&empty, "").unwrap();

    let e = fails(&["--alg", "HS999"], d);
    assert!(e.contains("--alg") && e.contains("HS999"), "{e}");
    let e = fails(
        &["--alg", "RS256", "--private-key-file", ec_pem.to_str().unwrap()],
        d,
    );
    assert!(
        e.contains(ec_pem.to_str().unwrap()) && e.contains("EC key") && e.contains("RS256"),
        "{e}"
    );
    let e = fails(&["--alg", "RS256", "--private-key-file", "/nonexistent/k.pem"], d);
    assert!(e.contains("/nonexistent/k.pem"), "{e}");
    let e = fails(
        &["--alg", "RS256", "--private-key-file", garbage.to_str().unwrap()],
        d,
    );
    assert!(e.contains("garbage.pem") && e.contains("PEM"), "{e}");
    let e = fails(&["--secret-file", empty.to_str().unwrap()], d);
    assert!(e.contains("empty.secret") && e.contains("empty"), "{e}");
    let e = fails(&["--secret-env", "JWT_EMPTY"], d);
    assert!(e.contains("JWT_EMPTY") && e.contains("not set"), "{e}");
    let e = fails(&["--mix", "valid=-1,expired=2"], d);
    assert!(e.contains("--mix") && e.contains("non-negative"), "{e}");
    let e = fails(&["--mix", "valid=0"], d);
    assert!(e.contains("all weights are zero"), "{e}");
    let e = fails(&["--mix", "psychic_signature=1"], d);
    assert!(e.contains("psychic_signature") && e.contains("ES256"), "{e}");
    let e = fails(&["--mix", "sparkly=1"], d);
    assert!(e.contains("sparkly"), "{e}");
    let e = fails(&["-n", "0"], d);
    assert!(e.contains("--count"), "{e}");

    let run = jwtstorm()
        .args(["mint", "-n", "10", "--out", "/nonexistent-dir/b.jwts"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent-dir/b.jwts"));

    let scenario = d.join("s.toml");
    std::fs::write(&scenario, "[tokens]\ncount = 10\nttl = \"forever\"\n").unwrap();
    let run = jwtstorm()
        .arg("mint")
        .arg("--scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(d.join("x.jwts"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let e = String::from_utf8_lossy(&run.stderr);
    assert!(e.contains("s.toml:3:7") && e.contains("tokens.ttl"), "{e}");
}

#[test]
fn stdout_batches_stream_and_secrets_come_from_env() {
    let run = jwtstorm()
        .args([
            "mint",
            "--quiet",
            "-n",
            "50",
            "--secret-env",
            "JWTSTORM_TEST_SECRET",
            "--out",
            "-",
        ])
        .env(
            "JWTSTORM_TEST_SECRET",
            "a-test-secret-that-is-long-enough-for-hs256",
        )
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.starts_with("#jwtstorm-batch v1\n"));
    assert_eq!(text.lines().count(), 51);
    assert!(!text.contains("a-test-secret"));
}

/// `jwtstorm ... | head` closes stdout early: the program ends quietly, never with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .args(["keys", "generate", "--alg", "HS256", "--count", "50", "--out"])
        .arg(dir.path().join("k"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
