//! Bad input of every kind gets a clear error and exit 2, never a panic or an unbounded read:
//! one regression test for each reproducer of the hardening pass.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "an-hmac-secret-of-32-bytes-or-more!!";

fn jwtstorm(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("jwtstorm"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (out.status.code(), stderr)
}

fn refused(dir: &Path, args: &[&str], needle: &str) {
    let (code, stderr) = jwtstorm(dir, args);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected '{needle}' in: {stderr}"
    );
}

fn scenario(dir: &Path, body: &str) {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    std::fs::write(
        dir.join("s.toml"),
        format!("[target]\nembedded = true\n[keys]\nsecret_file = \"secret\"\n{body}"),
    )
    .unwrap();
}

#[test]
fn huge_durations_are_refused_for_every_key_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for huge in [
        "1e20",
        "99999999999999999999",
        "9300000000000000000",
        "18446744073709551615s",
    ] {
        for key in ["duration", "warmup", "grace"] {
            scenario(d, &format!("[load]\n{key} = \"{huge}\"\n"));
            refused(d, &["validate", "s.toml"], &format!("load.{key}"));
        }
        for key in ["timeout", "connect_timeout"] {
            scenario(d, "");
            std::fs::write(
                d.join("s.toml"),
                format!("[target]\nembedded = true\n{key} = \"{huge}\"\n[keys]\nsecret_file = \"secret\"\n"),
            )
            .unwrap();
            refused(d, &["validate", "s.toml"], &format!("target.{key}"));
        }
        scenario(
            d,
            &format!("[load]\nstages = [{{ duration = \"{huge}\", rate = 10 }}]\n"),
        );
        refused(d, &["validate", "s.toml"], "load.stages[0].duration");
        scenario(d, &format!("[capacity]\nstep = \"{huge}\"\n"));
        refused(d, &["validate", "s.toml"], "capacity.step");
        scenario(d, &format!("[tokens]\nttl = \"{huge}\"\n"));
        refused(d, &["validate", "s.toml"], "tokens.ttl");
        scenario(d, &format!("[verifier]\nleeway = \"{huge}\"\n"));
        refused(d, &["validate", "s.toml"], "verifier.leeway");
        scenario(d, "");
        for flag in ["-d", "--warmup", "--abort-on-fail"] {
            refused(d, &["validate", "s.toml", flag, huge], "366 days");
        }
        refused(
            d,
            &[
                "mint",
                "--secret-file",
                "secret",
                "--ttl",
                huge,
                "--out",
                "b.jwts",
            ],
            "366 days",
        );
        refused(
            d,
            &[
                "mint",
                "--secret-file",
                "secret",
                "--leeway",
                huge,
                "--out",
                "b.jwts",
            ],
            "366 days",
        );
        refused(
            d,
            &["serve", "--secret-file", "secret", "--delay", huge],
            "366 days",
        );
        refused(
            d,
            &["serve", "--secret-file", "secret", "--exit-after", huge],
            "366 days",
        );
    }
    // Two long stages together: each is allowed, the sum is not.
    scenario(
        d,
        "[load]\nstages = [{ duration = \"300days\", rate = 1 }, { duration = \"300days\", rate = 10000000 }]\n",
    );
    refused(d, &["validate", "s.toml"], "load.stages: the stages last");
}

#[test]
fn huge_counts_sizes_and_clocks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (body, needle) in [
        (
            "[tokens]\ncount = 9223372036854775807\n",
            "tokens.count: must be between 1 and 100000000",
        ),
        ("[tokens]\ncount = \"1e9\"\n", "tokens.count"),
        (
            "[tokens]\nsize = 9223372036854775807\n",
            "tokens.size: must be between 1 and 1048576 bytes",
        ),
        ("[tokens]\nsize = 2147483648\n", "tokens.size"),
        (
            "[tokens]\nnow = 9223372036854775807\n",
            "tokens.now: 9223372036854775807 is outside 1970-01-01 to 9999-12-31",
        ),
        (
            "[verifier]\nmax_token_size = 4294967296\n",
            "verifier.max_token_size",
        ),
    ] {
        scenario(d, body);
        refused(d, &["validate", "s.toml"], needle);
    }
    let mint = |extra: &[&str]| {
        let mut args = vec!["mint", "--secret-file", "secret", "--out", "b.jwts"];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    for (extra, needle) in [
        (
            vec!["--now", "9223372036854775807"],
            "--now: 9223372036854775807 is outside",
        ),
        (
            vec!["--count", "1000000000"],
            "--count: must be between 1 and 100000000",
        ),
        (
            vec!["--size", "2147483648"],
            "--size: must be between 1 and 1048576 bytes",
        ),
    ] {
        let args = mint(&extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(d, &args, needle);
    }
    assert!(!d.join("b.jwts").exists() && !d.join("b.jwts.partial").exists());
}

#[test]
fn key_paths_that_are_not_small_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let started = Instant::now();
    for flag in [
        "--secret-file",
        "--private-key-file",
        "--public-key-file",
        "--jwks-file",
    ] {
        refused(
            d,
            &["mint", flag, "/dev/zero", "--out", "b.jwts"],
            "not a regular file",
        );
    }
    std::fs::write(d.join("big.pem"), vec![b'A'; 2 << 20]).unwrap();
    refused(
        d,
        &[
            "mint",
            "--alg",
            "RS256",
            "--private-key-file",
            "big.pem",
            "--out",
            "b.jwts",
        ],
        "larger than 1048576 bytes",
    );
    std::fs::write(
        d.join("s.toml"),
        "[target]\nembedded = true\n[keys]\nsecret_file = \"/dev/zero\"\n",
    )
    .unwrap();
    refused(d, &["validate", "s.toml"], "not a regular file");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "nothing was read without a bound"
    );
}

#[test]
fn inspect_shows_far_future_times_without_a_panic() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let dir = tempfile::tempdir().unwrap();
    for exp in ["1e300", "253402300800", "99999999999", "-1e300"] {
        let token = format!(
            "{}.{}.c2ln",
            b64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"),
            b64(&format!("{{\"exp\":{exp},\"nbf\":{exp},\"iat\":{exp}}}"))
        );
        let (code, stderr) = jwtstorm(dir.path(), &["inspect", &token]);
        assert_eq!(code, Some(0), "exp {exp}: {stderr}");
    }
}

#[test]
fn a_batch_with_an_endless_line_or_bad_bytes_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), SECRET).unwrap();
    let write = |content: &[u8]| {
        std::fs::write(d.join("b.jwts"), content).unwrap();
        std::fs::write(
            d.join("s.toml"),
            "[target]\nembedded = true\n[keys]\nsecret_file = \"secret\"\n[tokens]\nbatch = \"b.jwts\"\n",
        )
        .unwrap();
    };
    let mut endless = b"#jwtstorm-batch v1\n".to_vec();
    endless.extend(std::iter::repeat_n(b'a', 3 << 20));
    write(&endless);
    refused(d, &["validate", "s.toml"], "b.jwts:2: the line is longer than");
    write(b"#jwtstorm-batch v1\nvalid\taccept\tabc\nvalid\taccept\t\xff\xfe\n");
    refused(d, &["validate", "s.toml"], "b.jwts:3: not UTF-8 text");
}

#[test]
fn a_scenario_that_is_not_utf8_names_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        b"[target]\nembedded = true\nname = \"x\xff\"\n",
    )
    .unwrap();
    refused(dir.path(), &["validate", "s.toml"], "s.toml:3:10: not UTF-8 text");
}

#[test]
fn a_batch_too_big_for_memory_is_refused_naming_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    // 100 million padded tokens: far more than the memory of any machine this runs on.
    scenario(dir.path(), "[tokens]\ncount = 100000000\nsize = 4000\n");
    refused(
        dir.path(),
        &["validate", "s.toml"],
        "tokens: a batch of 100000000 tokens would take about",
    );
}

/// What the property tests found: errors whose message did not name the key.
#[test]
fn duplicate_keys_and_inline_tables_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        (
            "[target]\nembedded = true\n[target]\nembedded = 0\n",
            "s.toml:3:2: [target]: duplicate key",
        ),
        (
            "[target]\nembedded = true\n[tokens]\nseed = 0\nseed = 0\n",
            "s.toml:5:1: tokens.seed: duplicate key",
        ),
        (
            "[target]\nembedded = true\n[load]\nmodel = { _ = { a = \"=\" }, _ = 0 }\n",
            "s.toml:4:28: load.model: duplicate key",
        ),
    ] {
        std::fs::write(dir.path().join("s.toml"), text).unwrap();
        refused(dir.path(), &["validate", "s.toml"], needle);
    }
}

#[test]
fn a_number_where_a_duration_belongs_says_how_to_write_one() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "[verifier]\nleeway = 0\n");
    refused(
        dir.path(),
        &["validate", "s.toml"],
        "verifier.leeway: invalid type: integer `0`, expected a string; a duration is a string with a unit, such as \"0s\"",
    );
}
