//! Kubernetes manifests for a run spread over the pods of an Indexed Job, the way k6-operator
//! spreads k6: a ConfigMap holding the scenario, an Indexed Job whose pod `I` runs segment
//! `I` of `N` (`--segments N`, the index from `JOB_COMPLETION_INDEX`) from a common start,
//! the keys from a Secret mounted as files (named here, never written here), results on a
//! ReadWriteMany claim, and a second Job that merges them once the first has completed.

pub mod yaml;

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::scenario::Loaded;
use crate::scenario::resolve::{KeySource, Settings};
use crate::scenario::run::RunSettings;

/// Where the pods find things.
pub const SCENARIO_DIR: &str = "/etc/jwtstorm/scenario";
pub const SCENARIO_FILE: &str = "scenario.toml";
pub const KEYS_DIR: &str = "/etc/jwtstorm/keys";
pub const RESULTS_DIR: &str = "/results";
/// The user the image runs as (distroless `nonroot`).
pub const USER: u64 = 65532;
/// Time a pod gets beyond its wait and its run before Kubernetes stops it.
const DEADLINE_MARGIN: Duration = Duration::from_secs(600);

/// What to render.
#[derive(Debug, Clone)]
pub struct Options {
    pub name: String,
    pub namespace: String,
    pub segments: u64,
    pub image: String,
    pub start_at: SystemTime,
    pub keys_secret: String,
    pub claim: String,
    pub claim_size: String,
    pub existing_claim: bool,
    pub cpu: String,
    pub memory: String,
}

/// One manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Its file name (`--out DIR`).
    pub file: &'static str,
    /// One or more YAML documents.
    pub yaml: String,
}

/// The rendered manifests and how to use them.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `jwtstorm.yaml` (claim, ConfigMap, the segments' Job) and `merge.yaml` (the merging Job).
    pub manifests: Vec<Manifest>,
    /// The files the keys Secret must hold, as `kubectl create secret` takes them.
    pub secret_from: Vec<String>,
    /// The segments' Job name.
    pub job: String,
    /// How long the segments may take, start wait included.
    pub deadline: Duration,
}

/// A Kubernetes name: lower case letters, digits and dashes, at most 52 characters (room for
/// the Job's pod suffixes).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 52
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a Kubernetes name: lower-case letters, digits and '-', at most 52 characters, \
             starting and ending with a letter or digit"
        ))
    }
}

/// The key flag the pods pass, and what the Secret holds, from the scenario's key source.
fn key_source(settings: &Settings) -> Result<(Vec<String>, Vec<String>), String> {
    let file = |flag: &str, path: &std::path::Path| {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("the key file '{}' has no file name", path.display()))?;
        Ok::<_, String>((
            vec![flag.to_string(), format!("{KEYS_DIR}/{name}")],
            vec![path.display().to_string()],
        ))
    };
    match &settings.keys.source {
        KeySource::Dir(d) => Ok((
            vec!["--keys-dir".into(), KEYS_DIR.into()],
            vec![d.display().to_string()],
        )),
        KeySource::SecretFile(f) => file("--secret-file", f),
        KeySource::PrivateKeyFile(f) => file("--private-key-file", f),
        KeySource::PublicKeyFile(f) => file("--public-key-file", f),
        KeySource::Jwks(f) => file("--jwks-file", f),
        KeySource::SecretEnv(v) | KeySource::PrivateKeyEnv(v) => Err(format!(
            "[keys] reads the key from the environment variable {v}; the pods read keys from a Secret mounted as \
             files: put the key in a file and name it in [keys] (secret_file, private_key_file or dir)"
        )),
        KeySource::Generate => Err(
            "[keys] generates keys, which the target cannot know; name the keys it trusts in [keys] (dir, secret_file, \
             private_key_file, jwks_file)"
                .into(),
        ),
    }
}

fn labels(o: &Options, role: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "jwtstorm",
        "app.kubernetes.io/instance": o.name,
        "app.kubernetes.io/component": role,
    })
}

/// A pod's security settings as a careful operator writes them.
fn pod_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": USER,
        "runAsGroup": USER,
        "fsGroup": USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

fn resources(o: &Options) -> Value {
    json!({
        "requests": {"cpu": o.cpu, "memory": o.memory},
        "limits": {"cpu": o.cpu, "memory": o.memory},
    })
}

/// The arguments of segment pods: `jwtstorm` and these.
pub fn segment_args(o: &Options, key_flag: &[String]) -> Vec<String> {
    let mut args = vec![
        "run".to_string(),
        format!("{SCENARIO_DIR}/{SCENARIO_FILE}"),
        "--segments".into(),
        o.segments.to_string(),
        "--start-at".into(),
        humantime::format_rfc3339_millis(o.start_at).to_string(),
        "--out".into(),
        // Kubernetes substitutes $(SEGMENT) from the container's environment.
        format!("{RESULTS_DIR}/{}/segment-$(SEGMENT)", o.name),
        "--quiet".into(),
    ];
    args.extend(key_flag.iter().cloned());
    args
}

/// The arguments of the merging pod.
pub fn merge_args(o: &Options) -> Vec<String> {
    vec![
        "merge".into(),
        format!("{RESULTS_DIR}/{}", o.name),
        "--out".into(),
        format!("{RESULTS_DIR}/{}/merged", o.name),
    ]
}

/// Renders the manifests of `loaded` (its settings and run as `prepare` made them).
pub fn render(
    loaded: &Loaded,
    settings: &Settings,
    run: &RunSettings,
    o: &Options,
) -> Result<Rendered, String> {
    check_name(&o.name).map_err(|e| format!("--name: {e}"))?;
    check_name(&o.namespace).map_err(|e| format!("--namespace: {e}"))?;
    check_name(&o.keys_secret).map_err(|e| format!("--keys-secret: {e}"))?;
    check_name(&o.claim).map_err(|e| format!("--claim: {e}"))?;
    if o.segments == 0 || o.segments > crate::model::Segment::MAX {
        return Err(format!(
            "--segments: expected 1 to {}",
            crate::model::Segment::MAX
        ));
    }
    if o.image.trim().is_empty() {
        return Err("--image: give the jwtstorm image the pods run".into());
    }
    if run.target.embedded {
        return Err(format!(
            "{}: the pods need a target to share: set target.url to the service under test",
            loaded.path.display()
        ));
    }
    if run.batch.is_some() {
        return Err(format!(
            "{}: tokens.batch names a file the pods do not have; let each segment mint its share (remove tokens.batch)",
            loaded.path.display()
        ));
    }
    if loaded.scenario.target.body_file.is_some() {
        return Err(format!(
            "{}: target.body_file names a file the pods do not have; put the body in target.body",
            loaded.path.display()
        ));
    }
    if run.idp.is_some() {
        return Err(format!(
            "{}: [idp] cannot be split over segments (each would serve its own key set)",
            loaded.path.display()
        ));
    }
    if run.load.concurrency < o.segments as usize {
        return Err(format!(
            "--segments {}: load.concurrency {} gives some segments no connection",
            o.segments, run.load.concurrency
        ));
    }
    let (key_flag, secret_from) = key_source(settings)?;
    // The longest a pod may wait for the start, then the run, its grace and a margin (the same
    // whenever the manifests are rendered).
    let deadline = crate::scenario::flags::MAX_START_WAIT
        + run.load.time_bound()
        + run.load.grace
        + run.target.timeout
        + DEADLINE_MARGIN;
    let job = o.name.clone();
    let ns = &o.namespace;
    let config = format!("{}-scenario", o.name);
    let volumes = json!([
        {"name": "scenario", "configMap": {"name": config}},
        {"name": "keys", "secret": {"secretName": o.keys_secret, "defaultMode": 0o440}},
        {"name": "results", "persistentVolumeClaim": {"claimName": o.claim}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]);
    let mounts = json!([
        {"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": true},
        {"name": "keys", "mountPath": KEYS_DIR, "readOnly": true},
        {"name": "results", "mountPath": RESULTS_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]);
    let mut docs = Vec::new();
    if !o.existing_claim {
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": o.claim, "namespace": ns, "labels": labels(o, "results")},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": o.claim_size}},
            },
        }));
    }
    docs.push(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config, "namespace": ns, "labels": labels(o, "scenario")},
        "data": {SCENARIO_FILE: loaded.text},
    }));
    docs.push(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": ns, "labels": labels(o, "segment")},
        "spec": {
            "completionMode": "Indexed",
            "completions": o.segments,
            "parallelism": o.segments,
            // A failed pod is tried once more; the retry joins the common start late and counts
            // what it missed as not sent. A segment that fails twice is missing from the merge.
            "backoffLimitPerIndex": 1,
            "activeDeadlineSeconds": deadline.as_secs(),
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": labels(o, "segment")},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "securityContext": pod_security(),
                    "containers": [{
                        "name": "jwtstorm",
                        "image": o.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": segment_args(o, &key_flag),
                        "env": [{
                            "name": "SEGMENT",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}},
                        }],
                        "resources": resources(o),
                        "securityContext": container_security(),
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                },
            },
        },
    }));
    let run_yaml = docs.iter().map(yaml::to_yaml).collect::<Vec<_>>().join("---\n");
    let merge = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": format!("{}-merge", o.name), "namespace": ns, "labels": labels(o, "merge")},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": DEADLINE_MARGIN.as_secs(),
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": labels(o, "merge")},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "securityContext": pod_security(),
                    "containers": [{
                        "name": "merge",
                        "image": o.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": merge_args(o),
                        "resources": resources(o),
                        "securityContext": container_security(),
                        "volumeMounts": [
                            {"name": "results", "mountPath": RESULTS_DIR},
                            {"name": "tmp", "mountPath": "/tmp"},
                        ],
                    }],
                    "volumes": [
                        {"name": "results", "persistentVolumeClaim": {"claimName": o.claim}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    });
    Ok(Rendered {
        manifests: vec![
            Manifest {
                file: "jwtstorm.yaml",
                yaml: run_yaml,
            },
            Manifest {
                file: "merge.yaml",
                yaml: yaml::to_yaml(&merge),
            },
        ],
        secret_from,
        job,
        deadline,
    })
}
