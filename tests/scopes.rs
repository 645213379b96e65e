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

#[test]
fn weighted_endpoints_with_their_scopes_match_the_verifiers_per_path_counts() {
    let serve = Serve::start(&["--required-scope", "orders:write", "--scope", "/admin=admin"]);
    let f = Fixture::new(
        &format!(
            "url = \"{}\"\n\
             [[target.endpoints]]\npath = \"/protected\"\nweight = 3\nrequired_scope = \"orders:write\"\n\
             [[target.endpoints]]\npath = \"/admin\"\nmethod = \"POST\"\nweight = 1\nrequired_scope = \"admin\"",
            serve.url()
        ),
        "requests = 1200\nconcurrency = 4\n[thresholds]\nfalse_accepts = \"== 0\"\nfalse_rejects = \"== 0\"",
        MIX,
    );
    with_scope(&f, "required_scope = \"orders:write\"");
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_schema(&r);
    assert_eq!(code, 0, "{}", r["thresholds"]);
    let eps = r["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    let (main, admin) = (&eps[0], &eps[1]);
    assert_eq!(
        (main["path"].as_str(), admin["method"].as_str()),
        (Some("/protected"), Some("POST"))
    );
    let (a, b) = (n(main, "count"), n(admin, "count"));
    assert_eq!(a + b, 1200);
    // 3:1 within a wide margin.
    assert!((800..1000).contains(&a), "{a} of 1200 at weight 3 of 4");
    // Exactly what the verifier counted per path.
    let counted = |path: &str, answer: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(serve.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let key = format!("jwtstorm_server_path_requests_total{{path=\"{path}\",answer=\"{answer}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key)?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    for (e, path) in [(main, "/protected"), (admin, "/admin")] {
        for (outcome, answer) in [
            ("accepted", "accepted"),
            ("rejected", "rejected"),
            ("forbidden", "forbidden"),
        ] {
            let ours = e["outcomes"].get(outcome).and_then(|v| v.as_u64()).unwrap_or(0);
            assert_eq!(ours, counted(path, answer), "{path} {outcome}");
        }
    }
    // Valid tokens carry orders:write, not admin: forbidden at /admin, and rightly so.
    assert!(admin["outcomes"].get("accepted").is_none(), "{admin}");
    assert!(n(admin, "outcomes.forbidden") > 0);
    assert!(n(main, "outcomes.accepted") > 0);
    let results: jwtstorm::stats::results::Results = serde_json::from_value(r.clone()).unwrap();
    let md = jwtstorm::report::markdown::render(&results);
    assert!(
        md.contains("## Endpoints") && md.contains("| POST /admin | admin |"),
        "{md}"
    );
}

#[test]
fn endpoints_are_checked() {
    for (target, want) in [
        (
            "url = \"http://127.0.0.1:1/\"\n[[target.endpoints]]\npath = \"admin\"",
            "target.endpoints.path: 'admin' is not a path",
        ),
        (
            "url = \"http://127.0.0.1:1/\"\n[[target.endpoints]]\npath = \"/a\"\nweight = 0",
            "target.endpoints.weight: must be a number above 0",
        ),
        (
            "url = \"http://127.0.0.1:1/\"\ntoken = \"query:t\"\n[[target.endpoints]]\npath = \"/a\"",
            "endpoints cannot be combined with a query placement",
        ),
    ] {
        let f = Fixture::new(target, "requests = 10", "count = 10\nmix = { valid = 1 }");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
            .args(["validate"])
            .arg(f.scenario())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn the_embedded_verifier_serves_the_endpoints_with_their_scopes() {
    let f = Fixture::new(
        "embedded = true\n\
         [[target.endpoints]]\npath = \"/protected\"\nrequired_scope = \"orders:write\"\n\
         [[target.endpoints]]\npath = \"/reports\"",
        "requests = 600\nconcurrency = 4\n[thresholds]\nfalse_accepts = \"== 0\"\nfalse_rejects = \"== 0\"",
        MIX,
    );
    with_scope(&f, "required_scope = \"orders:write\"");
    let (code, r) = f.run(&[]);
    assert_accounted(&r);
    assert_eq!(code, 0, "{}", r["thresholds"]);
    // At /reports no scope is needed: the scope-less tokens are good there.
    let reports = &r["endpoints"][1];
    assert!(reports["outcomes"].get("forbidden").is_none(), "{reports}");
    assert!(n(&r, "classes.insufficient_scope.verdicts.correct_accept") > 0);
    assert!(n(&r, "classes.insufficient_scope.verdicts.correct_reject") > 0);
    let results: jwtstorm::stats::results::Results = serde_json::from_value(r.clone()).unwrap();
    let summary = jwtstorm::report::summary::render(&results, false);
    assert!(summary.contains("endpoint    GET /reports:"), "{summary}");

    // The embedded verifier's own path keeps the policy's scope.
    let f = Fixture::new(
        "embedded = true\n[[target.endpoints]]\npath = \"/protected\"\nrequired_scope = \"admin\"",
        "requests = 10",
        MIX,
    );
    with_scope(&f, "required_scope = \"orders:write\"");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .arg("run")
        .arg(f.scenario())
        .arg("--out")
        .arg(f.out())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the embedded verifier's /protected needs verifier.required_scope"),
        "{err}"
    );
}

#[test]
fn the_preflight_goes_to_an_endpoint_that_accepts_a_valid_token() {
    let serve = Serve::start(&["--required-scope", "orders:write", "--scope", "/admin=admin"]);
    // The URL's own path is served by nothing: only the endpoints are.
    let f = Fixture::new(
        &format!(
            "url = \"http://{}/nothing-here\"\n\
             [[target.endpoints]]\npath = \"/admin\"\nrequired_scope = \"admin\"\n\
             [[target.endpoints]]\npath = \"/protected\"\nrequired_scope = \"orders:write\"",
            serve.addr
        ),
        "requests = 100\nconcurrency = 2",
        MIX,
    );
    with_scope(&f, "required_scope = \"orders:write\"");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jwtstorm"))
        .arg("run")
        .arg(f.scenario())
        .arg("--out")
        .arg(f.out())
        .arg("--quiet")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(serve.counter("accepted") > 0);
}
