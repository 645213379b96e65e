//! `jwtstorm kubernetes render`: the manifests are valid Kubernetes objects (checked with the
//! real `kubernetes-validate` against the API schemas), written as a careful operator would,
//! and the rendered Job's command lines, run locally as N processes with
//! `JOB_COMPLETION_INDEX` set and then the merge Job's, give the merged answer: the flow of a
//! cluster, minus the cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

use jsonwebtoken::Algorithm;
use jwtstorm::scenario::Loaded;
use jwtstorm::scenario::resolve::Settings;
use jwtstorm::verifier::server::Knobs;
use serde_json::Value;

mod common;

use common::{SECRET, Server, n, read_results};

/// The Kubernetes version the manifests are validated against.
const KUBERNETES: &str = "1.33.0";

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin!("jwtstorm").to_path_buf()
}

/// `kubernetes-validate`: `$KUBERNETES_VALIDATE`, the venv `.ci/run` makes, or the PATH. Under
/// CI it must be there; elsewhere its absence is said and the validation skipped.
fn validator() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KUBERNETES_VALIDATE").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-python/bin/kubernetes-validate")),
        Some(PathBuf::from("kubernetes-validate")),
    ];
    for c in candidates.into_iter().flatten() {
        if Command::new(&c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "kubernetes-validate is not installed (pip install kubernetes-validate; .ci/run does)"
    );
    eprintln!(
        "skipping the schema validation: kubernetes-validate is not installed (pip install kubernetes-validate)"
    );
    None
}

fn validate(v: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(v)
        .args(["--strict", "-k", KUBERNETES])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The YAML documents of a file, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn render(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(["kubernetes", "render"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A pod's arguments with the cluster's paths mapped onto local folders, and `$(SEGMENT)` as
/// Kubernetes expands it from the container's environment.
fn local(args: &Value, root: &Path, segment: Option<u64>) -> Vec<String> {
    args.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut a = a.as_str().unwrap().to_string();
            for prefix in ["/etc/jwtstorm/scenario", "/etc/jwtstorm/keys", "/results"] {
                if a.starts_with(prefix) {
                    a = format!("{}{a}", root.display());
                }
            }
            if let Some(i) = segment {
                a = a.replace("$(SEGMENT)", &i.to_string());
            }
            a
        })
        .collect()
}

#[test]
fn rendered_manifests_validate_and_their_command_lines_run_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("secret"), SECRET).unwrap();
    let scenario = src.join("orders.toml");
    let write = |url: &str| {
        std::fs::write(
            &scenario,
            format!(
                "name = \"orders_fleet\"\n[target]\nurl = \"{url}\"\n[verifier]\naudience = \"api://orders\"\n\
                 issuer = \"https://auth.example.test\"\n[keys]\nalg = \"HS256\"\nsecret_file = \"secret\"\n\
                 [tokens]\ncount = 3000\nmix = {{ valid = 9, expired = 1 }}\n[load]\nrate = 300\nduration = \"3s\"\n\
                 concurrency = 6\n[thresholds]\n\"valid.count\" = \"> 700\"\n"
            ),
        )
        .unwrap()
    };
    write("http://127.0.0.1:1/protected");
    let s = Settings::from_scenario(&Loaded::read(&scenario).unwrap()).unwrap();
    let server = Server::hs256(s.policy(Algorithm::HS256), Knobs::default());
    write(&server.url());
    let k8s = dir.path().join("k8s");
    let (code, stdout, stderr) = render(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--segments",
        "3",
        "--image",
        "registry.example/jwtstorm:test",
        "--start-at",
        "+8s",
        "--out",
        k8s.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("jwtstorm.yaml") && stdout.contains("merge.yaml"),
        "{stdout}"
    );
    // The steps name the Secret made from the key file, never the key.
    assert!(
        stderr.contains("create secret generic jwtstorm-keys --from-file="),
        "{stderr}"
    );
    let files = [k8s.join("jwtstorm.yaml"), k8s.join("merge.yaml")];
    for f in &files {
        assert!(
            !std::fs::read_to_string(f).unwrap().contains(SECRET),
            "key material in {}",
            f.display()
        );
    }
    if let Some(v) = validator() {
        let (ok, text) = validate(&v, &files);
        assert!(ok, "{text}");
        // The validator is real: a misspelt field fails it.
        let broken = dir.path().join("broken.yaml");
        let text = std::fs::read_to_string(&files[0])
            .unwrap()
            .replace("parallelism:", "paralelism:");
        std::fs::write(&broken, text).unwrap();
        assert!(!validate(&v, &[broken]).0);
    }

    let docs = documents(&files[0]);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["PersistentVolumeClaim", "ConfigMap", "Job"]);
    assert_eq!(docs[0]["spec"]["accessModes"][0], "ReadWriteMany");
    let job = &docs[2];
    assert_eq!(job["metadata"]["name"], "orders-fleet");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 3);
    assert_eq!(spec["parallelism"], 3);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["resources"]["limits"], c["resources"]["requests"]);
    // The keys come from the Secret, mounted read-only as files: no env var carries them.
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == "jwtstorm-keys")
    );
    let env = c["env"].as_array().unwrap();
    assert_eq!(env.len(), 1);
    assert_eq!(
        env[0]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    );
    assert!(n(spec, "activeDeadlineSeconds") > 3);

    // The cluster's flow, locally: the ConfigMap's scenario and the Secret's file where the
    // pods mount them, one process per index, then the merge Job's command.
    let root = dir.path().join("cluster");
    std::fs::create_dir_all(root.join("etc/jwtstorm/scenario")).unwrap();
    std::fs::create_dir_all(root.join("etc/jwtstorm/keys")).unwrap();
    std::fs::create_dir_all(root.join("results")).unwrap();
    std::fs::write(
        root.join("etc/jwtstorm/scenario/scenario.toml"),
        docs[1]["data"]["scenario.toml"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::copy(src.join("secret"), root.join("etc/jwtstorm/keys/secret")).unwrap();
    let pods: Vec<_> = (0..3)
        .map(|i| {
            Command::new(bin())
                .args(local(&c["args"], &root, Some(i)))
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .env_remove("JWTSTORM_SEGMENT")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, p) in pods.into_iter().enumerate() {
        let p = p.wait_with_output().unwrap();
        assert!(
            p.status.success(),
            "pod {i}: {}",
            String::from_utf8_lossy(&p.stderr)
        );
    }
    let merge_job = &documents(&files[1])[0];
    let merge_args = local(
        &merge_job["spec"]["template"]["spec"]["containers"][0]["args"],
        &root,
        None,
    );
    let out = Command::new(bin()).args(&merge_args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged = read_results(&root.join("results/orders-fleet/merged"));
    assert_eq!(merged["fleet"]["merged"], serde_json::json!([0, 1, 2]));
    let t = &merged["totals"];
    assert_eq!(n(t, "scheduled"), 900);
    let m = server.metrics();
    // The preflight's two requests per pod reach the verifier too.
    assert_eq!(
        n(t, "accepted") + n(t, "rejected") + 6,
        m.accepted.load(std::sync::atomic::Ordering::Relaxed) + m.rejected_total()
    );
    assert_eq!(
        merged["thresholds"][0]["passed"], true,
        "{}",
        merged["thresholds"]
    );
}

#[test]
fn render_refuses_what_pods_cannot_have() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    let base = "[verifier]\naudience = \"a\"\n[load]\nrate = 10\nduration = \"1s\"\nconcurrency = 4\n";
    let cases = [
        (
            "[target]\nembedded = true\n[keys]\ngenerate = true\n",
            "target.url",
        ),
        (
            "[target]\nurl = \"http://127.0.0.1:1/p\"\n[keys]\nalg = \"HS256\"\nsecret_env = \"K\"\n",
            "environment variable K",
        ),
    ];
    for (head, want) in cases {
        std::fs::write(&scenario, format!("{head}{base}")).unwrap();
        let (code, _, err) = render(&[
            "--scenario",
            scenario.to_str().unwrap(),
            "--segments",
            "2",
            "--image",
            "i",
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(want), "{want}: {err}");
    }
    std::fs::write(dir.path().join("k"), SECRET).unwrap();
    std::fs::write(
        &scenario,
        format!(
            "[target]\nurl = \"http://127.0.0.1:1/p\"\n[keys]\nalg = \"HS256\"\nsecret_file = \"k\"\n{base}"
        ),
    )
    .unwrap();
    let (code, _, err) = render(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--segments",
        "8",
        "--image",
        "i",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("gives some segments no connection"), "{err}");
    let (code, _, err) = render(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--segments",
        "2",
        "--image",
        "i",
        "--name",
        "Not_A_Name",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a Kubernetes name"), "{err}");
}

#[test]
fn the_shipped_manifests_are_what_render_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // The scenario beside the key set its comment says to make (only the file names matter).
    let scenario = dir.path().join("fleet.toml");
    std::fs::copy(root.join("scenarios/fleet.toml"), &scenario).unwrap();
    let keys = dir.path().join("keys/fleet");
    let made = Command::new(bin())
        .args([
            "keys",
            "generate",
            "--alg",
            "ES256",
            "--out",
            keys.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(made.status.success());
    let out = dir.path().join("out");
    let (code, _, err) = render(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--segments",
        "4",
        "--image",
        "registry.example/jwtstorm:0.1.0",
        "--start-at",
        "2027-01-04T09:00:00Z",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut files = Vec::new();
    for name in ["jwtstorm.yaml", "merge.yaml"] {
        let fresh = std::fs::read_to_string(out.join(name)).unwrap();
        let shipped = root.join("deploy/kubernetes").join(name);
        assert_eq!(
            std::fs::read_to_string(&shipped).unwrap(),
            fresh,
            "deploy/kubernetes/{name} is out of date: re-render it (see deploy/kubernetes/README.md)"
        );
        files.push(shipped);
    }
    if let Some(v) = validator() {
        let (ok, text) = validate(&v, &files);
        assert!(ok, "{text}");
    }
}
