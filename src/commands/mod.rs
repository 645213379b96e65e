//! One module per subcommand: orchestration only.

pub mod capacity;
pub mod compare;
pub mod inspect;
pub mod keys;
pub mod mint;
pub mod report;
pub mod run;
pub mod serve;

use std::path::Path;

use crate::cli::{Cli, Command, KeyArgs, KeysCommand, PolicyArgs};
use crate::error::{Failure, ResultExt};
use crate::scenario::Loaded;
use crate::scenario::resolve::{KeySource, Settings};
use crate::token::alg;

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Keys(KeysCommand::Generate(args)) => keys::generate(args),
        Command::Mint(args) => mint::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Run(args) => run::run(args),
        Command::Validate(args) => run::validate(args),
        Command::Report(args) => report::run(args),
        Command::Capacity(args) => capacity::run(args),
        Command::Compare(args) => compare::run(args),
    }
}

/// Settings from an optional scenario, with key and policy flags laid over them.
pub fn settings(scenario: Option<&Path>, keys: &KeyArgs, policy: &PolicyArgs) -> Result<Settings, Failure> {
    let mut s = match scenario {
        Some(path) => Settings::from_scenario(&Loaded::read(path).or_bad_input()?).or_bad_input()?,
        None => Settings::default(),
    };
    apply_key_args(&mut s, keys)?;
    apply_policy_args(&mut s, policy)?;
    Ok(s)
}

fn apply_key_args(s: &mut Settings, k: &KeyArgs) -> Result<(), Failure> {
    if let Some(a) = &k.alg {
        s.keys.alg = Some(
            alg::parse(a)
                .map_err(|e| anyhow::anyhow!("--alg: {e}"))
                .or_bad_input()?,
        );
    }
    let mut sources: Vec<(&str, KeySource)> = Vec::new();
    if k.generate_keys {
        sources.push(("--generate-keys", KeySource::Generate));
    }
    if let Some(p) = &k.secret_file {
        sources.push(("--secret-file", KeySource::SecretFile(p.clone())));
    }
    if let Some(v) = &k.secret_env {
        sources.push(("--secret-env", KeySource::SecretEnv(v.clone())));
    }
    if let Some(p) = &k.private_key_file {
        sources.push(("--private-key-file", KeySource::PrivateKeyFile(p.clone())));
    }
    if let Some(v) = &k.private_key_env {
        sources.push(("--private-key-env", KeySource::PrivateKeyEnv(v.clone())));
    }
    if let Some(p) = &k.public_key_file {
        sources.push(("--public-key-file", KeySource::PublicKeyFile(p.clone())));
    }
    if let Some(p) = &k.jwks_file {
        sources.push(("--jwks-file", KeySource::Jwks(p.clone())));
    }
    if let Some(p) = &k.keys_dir {
        sources.push(("--keys-dir", KeySource::Dir(p.clone())));
    }
    if sources.len() > 1 {
        let names: Vec<&str> = sources.iter().map(|s| s.0).collect();
        return Err(anyhow::anyhow!(
            "choose one key source, not {}",
            names.join(" and ")
        ))
        .or_bad_input();
    }
    if let Some((_, src)) = sources.pop() {
        s.keys.source = src;
        s.keys.kid = None;
    }
    if let Some(kid) = &k.kid {
        s.keys.kid = Some(kid.clone());
    }
    if let Some(n) = k.key_count {
        if n == 0 {
            return Err(anyhow::anyhow!("--key-count: must be at least 1")).or_bad_input();
        }
        s.keys.count = n;
    }
    Ok(())
}

fn apply_policy_args(s: &mut Settings, p: &PolicyArgs) -> Result<(), Failure> {
    let v = &mut s.verifier;
    if let Some(algs) = &p.algorithms {
        let parsed: Result<Vec<_>, _> = algs.iter().map(|a| alg::parse(a)).collect();
        v.algorithms = Some(
            parsed
                .map_err(|e| anyhow::anyhow!("--algorithms: {e}"))
                .or_bad_input()?,
        );
    }
    if p.audience.is_some() {
        v.audience = p.audience.clone();
    }
    if p.issuer.is_some() {
        v.issuer = p.issuer.clone();
    }
    if p.leeway.is_some() {
        v.leeway = p.leeway;
    }
    if p.check_nbf {
        v.check_nbf = Some(true);
    }
    if let Some(rc) = &p.required_claims {
        for c in rc {
            if !["exp", "nbf", "iss", "aud", "sub"].contains(&c.as_str()) {
                return Err(anyhow::anyhow!(
                    "--required-claims: unknown claim '{c}'; expected exp, nbf, iss, aud or sub"
                ))
                .or_bad_input();
            }
        }
        v.required_claims = Some(rc.clone());
    }
    if let Some(m) = p.max_token_size {
        v.max_token_size = Some(if m == 0 { None } else { Some(m) });
    }
    Ok(())
}

/// Whether stderr is a terminal that should get progress and colour.
pub fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
