//! `jwtstorm kubernetes render`: check the scenario as `run` would, render the manifests of
//! an Indexed Job of segments and the Job that merges them, write them, and say how to apply.

use anyhow::Context;

use crate::cli::{KubernetesRenderArgs, LoadOverrides, SourceArgs};
use crate::deploy::{self, Options};
use crate::error::{Failure, ResultExt, exit};
use crate::session::prepare;

/// Runs `jwtstorm kubernetes render`.
pub fn render(args: KubernetesRenderArgs) -> Result<i32, Failure> {
    let p = prepare(
        Some(&args.scenario),
        &LoadOverrides::default(),
        &SourceArgs::default(),
    )?;
    let start_at = crate::scenario::flags::start_time(&args.start_at, std::time::SystemTime::now())
        .map_err(|e| anyhow::anyhow!("--start-at: {e}"))
        .or_bad_input()?;
    let options = Options {
        name: args
            .name
            .clone()
            .unwrap_or_else(|| p.name.to_lowercase().replace(['_', '.', ' '], "-")),
        namespace: args.namespace.clone(),
        segments: args.segments,
        image: args.image.clone(),
        start_at,
        keys_secret: args.keys_secret.clone(),
        claim: args.claim.clone(),
        claim_size: args.claim_size.clone(),
        existing_claim: args.existing_claim,
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
    };
    let rendered = deploy::render(&p.loaded, &p.settings, &p.run, &options)
        .map_err(anyhow::Error::msg)
        .or_bad_input()?;
    let ns = &options.namespace;
    let from: Vec<String> = rendered
        .secret_from
        .iter()
        .map(|f| format!("--from-file={f}"))
        .collect();
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create '{}'", dir.display()))
                .or_bad_input()?;
            for m in &rendered.manifests {
                let path = dir.join(m.file);
                std::fs::write(&path, &m.yaml)
                    .with_context(|| format!("writing '{}'", path.display()))
                    .or_cannot_proceed()?;
                println!("{}", path.display());
            }
            let d = dir.display();
            eprintln!(
                "next:\n  kubectl -n {ns} create secret generic {} {}\n  kubectl apply -f {d}/jwtstorm.yaml   \
                 # before {}: the segments start together then\n  kubectl -n {ns} wait --for=condition=complete \
                 job/{} --timeout={}s\n  kubectl apply -f {d}/merge.yaml\n  kubectl -n {ns} wait \
                 --for=condition=complete job/{}-merge --timeout=600s\n  (the merged results are in the claim \
                 {} under {}/{}/merged)",
                options.keys_secret,
                from.join(" "),
                humantime::format_rfc3339_seconds(start_at),
                rendered.job,
                rendered.deadline.as_secs(),
                rendered.job,
                options.claim,
                deploy::RESULTS_DIR,
                options.name,
            );
        }
        None => {
            // The segments' manifests; the merge Job is applied after they complete (--out DIR
            // writes both).
            print!("{}", rendered.manifests[0].yaml);
            eprintln!(
                "the Job that merges the segments' results is applied once they complete: `--out DIR` writes it \
                 (merge.yaml) beside these, with the steps"
            );
        }
    }
    Ok(exit::OK)
}
