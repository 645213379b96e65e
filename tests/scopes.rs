//! Scopes: a good token without the scope an endpoint needs deserves 403 (RFC 6750
//! `insufficient_scope`), distinct from the 401 of a bad token. Against the reference verifier,
//! embedded and as `jwtstorm serve --required-scope` / `--scope PATH=SCOPE`.

mod common;

use common::{Fixture, Serve, assert_accounted, assert_schema, n};

const MIX: &str = "count = 900\nmix = { valid = 4, insufficient_scope = 2, expired = 1, bad_signature = 1 }";

fn with_scope(f: &Fixture, verifier: &str) {
    std::fs::write(
        f.scenario(),
        std::fs::read_to_string(f.scenario())
            .unwrap()
            .replace("[verifier]\n", &format!("[verifier]\n{verifier}\n")),
    )
    .unwrap();
}

#[test]
fn a_token_without_the_scope_is_forbidden_and_that_is_a_correct_refusal() {
    for claim in ["scope", "scp"] {
        let f = Fixture::new(
            "embedded = true",
            "requests = 900\nconcurrency = 4\n[thresholds]\nfalse_accepts = \"== 0\"\nfalse_rejects = \"== 0\"\nwrong_reason = \"== 0\"",
            MIX,
        );
        with_scope(
            &f,
            &format!("required_scope = \"orders:write\"\nscope_claim = \"{claim}\""),
        );
        let (code, r) = f.run(&[]);
        assert_accounted(&r);
        assert_schema(&r);
        assert_eq!(code, 0, "{claim}: {}", r["thresholds"]);
        let scoped = n(&r, "classes.insufficient_scope.count");
        assert!(scoped > 100, "{claim}");
        assert_eq!(n(&r, "classes.insufficient_scope.outcomes.forbidden"), scoped);
        assert_eq!(
            n(&r, "classes.insufficient_scope.verdicts.correct_reject"),
            scoped
        );
        assert_eq!(n(&r, "status_codes.403"), scoped);
        assert_eq!(n(&r, "totals.forbidden"), scoped);
        // Valid tokens carry the scope; expired ones are 401, not 403.
        assert_eq!(
            n(&r, "classes.valid.outcomes.accepted"),
            n(&r, "classes.valid.count")
        );
        assert_eq!(
            n(&r, "classes.expired.outcomes.rejected"),
            n(&r, "classes.expired.count")
        );
        let results: jwtstorm::stats::results::Results = serde_json::from_value(r.clone()).unwrap();
        let summary = jwtstorm::report::summary::render(&results, false);
        assert!(summary.contains("forbidden"), "{summary}");
    }
}

#[test]
fn the_other_refusal_is_counted_apart() {
    // The target's 403 counted as a rejection: the scope-less tokens get the wrong kind of
    // refusal, and the expired ones the right one.
    let f = Fixture::new(
        "embedded = true\nreject = [401, 403]",
        "requests = 600\nconcurrency = 4\n[thresholds]\nwrong_reason = \"== 0\"",
        MIX,
    );
    with_scope(&f, "required_scope = \"orders:write\"");
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_eq!(code, 1, "wrong_reason fails");
    let scoped = n(&r, "classes.insufficient_scope.count");
    assert_eq!(
        n(&r, "classes.insufficient_scope.verdicts.rejected_other_reason"),
        scoped
    );
    assert_eq!(n(&r, "totals.rejected_other_reason"), scoped);
    assert_eq!(n(&r, "totals.false_accepts") + n(&r, "totals.false_rejects"), 0);

    // A verifier that does not check the scope lets the tokens in: false accepts.
    let serve = Serve::start(&[]);
    let f = Fixture::new(
        &format!("url = \"{}\"", serve.url()),
        "requests = 300\nconcurrency = 4",
        MIX,
    );
    with_scope(&f, "required_scope = \"orders:write\"");
    let (_, r) = f.run(&[]);
    assert_accounted(&r);
    let scoped = n(&r, "classes.insufficient_scope.count");
    assert!(scoped > 0);
    assert_eq!(n(&r, "classes.insufficient_scope.verdicts.false_accept"), scoped);
}

#[test]
fn serve_answers_insufficient_scope_per_path() {
    use std::io::{Read, Write};
    let serve = Serve::start(&["--required-scope", "orders:write", "--scope", "/admin=admin"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), common::SECRET).unwrap();
    // One valid token carrying orders:write.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .args([
            "mint",
            "-n",
            "1",
            "--mix",
            "valid=1",
            "--required-scope",
            "orders:write",
        ])
        .args([
            "--audience",
            "api://orders",
            "--issuer",
            "https://auth.example.test",
            "--secret-file",
        ])
        .arg(dir.path().join("secret"))
        .args(["--out", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // A batch line: class, expectation, token.
    let token = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.split('\t').nth(2))
        .expect("a token")
        .trim()
        .to_string();
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(serve.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
    };
    let main = get("/protected");
    assert!(main.starts_with("HTTP/1.1 200"), "{main}");
    let admin = get("/admin");
    assert!(admin.starts_with("HTTP/1.1 403"), "{admin}");
    let lower = admin.to_ascii_lowercase();
    assert!(
        lower.contains("www-authenticate: bearer error=\"insufficient_scope\"")
            && lower.contains("scope=\"admin\""),
        "{admin}"
    );
    assert!(admin.contains("\"error\":\"insufficient_scope\""), "{admin}");
    assert_eq!(serve.counter("forbidden"), 1);
    assert_eq!(serve.counter("accepted"), 1);
    assert!(get("/elsewhere").starts_with("HTTP/1.1 404"));
    // A bad --scope is refused with a clear message.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scope",
            "admin",
            "--secret-file",
        ])
        .arg(dir.path().join("secret"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--scope 'admin': expected PATH=SCOPE"));
}
