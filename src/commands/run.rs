//! `jwtstorm run`: prepare the scenario, create the results folder, replay through a
//! [`Session`], write results and reports, gate, print, and pick the exit code.

use std::time::SystemTime;

use anyhow::{Context, anyhow};

use crate::cli::RunArgs;
use crate::error::{Failure, ResultExt, exit};
use crate::gate::{baseline, ci, compare};
use crate::model::Format;
use crate::report;
use crate::scenario::resolve::KeySource;
use crate::session::{Session, SessionError, prepare};
use crate::text::{colour, stderr_is_tty, stdout_is_tty};

/// Runs `jwtstorm run`.
pub fn run(args: RunArgs) -> Result<i32, Failure> {
    // Before anything slow: a Ctrl-C while minting must still end cleanly.
    let interrupt = crate::interrupt::install();
    let p = prepare(args.scenario.as_deref(), &args.overrides, &args.source)?.with_fleet(&args.fleet)?;
    if p.is_segment() && !args.baseline.is_empty() {
        return Err(anyhow!(
            "--baseline with --segment: a segment is a share of the run; compare the merged results \
             (`jwtstorm merge`, then `jwtstorm compare BASELINE MERGED`)"
        ))
        .or_bad_input();
    }
    if args.print_scenario {
        print!(
            "{}",
            crate::scenario::write::to_toml(&p.name, &p.settings, &p.run)
        );
        return Ok(exit::OK);
    }
    let output = p.create_output(args.out.as_deref(), SystemTime::now())?;
    let (out_dir, results_path) = (output.dir, output.results);
    let mut p = p;
    p.output_dir = Some(out_dir.clone());

    if !args.quiet {
        match &p.run.batch {
            Some(b) if p.settings.tokens.stream => {
                eprintln!("preparing '{}': checking {} to stream it", p.name, b.display())
            }
            Some(b) => eprintln!("preparing '{}': loading {}", p.name, b.display()),
            None if p.settings.tokens.stream => eprintln!(
                "preparing '{}': tokens are minted as the run goes (calibrating the signer)",
                p.name
            ),
            // A key set folder names its algorithm; the line says it once the keys are read.
            None if matches!(p.settings.keys.source, KeySource::Dir(_)) && p.settings.keys.alg.is_none() => {
                eprintln!(
                    "preparing '{}': minting {} tokens",
                    p.name, p.settings.tokens.count
                )
            }
            None => eprintln!(
                "preparing '{}': minting {} {} tokens",
                p.name,
                p.settings.tokens.count,
                crate::model::alg::name(p.settings.alg())
            ),
        }
    }
    let mut session = match Session::start(p, interrupt) {
        Err(SessionError::Interrupted) => {
            // The results file is removed with `output.file`; nothing was sent.
            eprintln!("interrupted while preparing the tokens: nothing was sent, nothing written");
            return Ok(exit::INTERRUPTED);
        }
        other => other?,
    };
    if !session.p.run.target.embedded && !args.overrides.no_preflight {
        for probe in session.preflight(args.overrides.force_preflight)? {
            if !args.quiet {
                eprintln!("preflight: {probe}");
            }
        }
    }
    let load = session.p.run.load.clone();
    if let Some(warning) = session.expiry_warning(&load) {
        eprintln!("warning: {warning}");
    }
    if let Some(warning) = session.stream_warning(&load) {
        eprintln!("warning: {warning}");
    }
    let show_live = stderr_is_tty() && !args.quiet;
    if !args.quiet {
        // The first line on stderr says the run has started: tokens are ready and the target is set.
        let kids: Vec<&str> = session
            .keys
            .iter()
            .map(|k| {
                if k.kid.is_empty() {
                    "(none)"
                } else {
                    k.kid.as_str()
                }
            })
            .collect();
        let tokens = match (session.streaming(), session.p.settings.stream_count()) {
            (false, _) => format!("{} tokens", session.store.len()),
            (true, _) if session.p.run.batch.is_some() => "tokens streamed from the batch".to_string(),
            (true, Some(n)) => format!("{n} tokens minted as it goes"),
            (true, None) => "fresh tokens minted as it goes".to_string(),
        };
        eprintln!(
            "running '{}': {tokens} ({}, kid {} in the header) against {}, {}; Ctrl-C stops and keeps what was measured",
            session.p.name,
            crate::model::alg::name(session.alg),
            kids.join(", "),
            session.url,
            load.describe()
        );
    }
    if let Some(list) = &session.revocations
        && !args.quiet
    {
        let served = session
            .idp
            .as_ref()
            .map_or(String::new(), |i| format!(", served at {}", i.revocation_url()));
        eprintln!(
            "revocation list: {} ({} id(s){served}){}",
            list.path().display(),
            crate::text::thousands(list.initial()),
            if session.p.run.target.embedded {
                format!(
                    "; the embedded verifier looks at it every {}",
                    crate::text::format_duration(session.p.run.revocation_poll)
                )
            } else {
                "; the target must follow it".to_string()
            }
        );
    }
    if let Some(at) = session.p.run.start_at
        && !args.quiet
    {
        let when = humantime::format_rfc3339_millis(at);
        match at.duration_since(SystemTime::now()) {
            Ok(ahead) => eprintln!(
                "waiting for the common start at {when} (in {})",
                crate::text::format_duration(ahead)
            ),
            Err(e) => eprintln!(
                "joining the run that started at {when}, {} late: its requests due until now are counted as not sent",
                crate::text::format_duration(e.duration())
            ),
        }
    }
    // A segment's share is not the run: its thresholds are judged on the merged results.
    let segment = session.p.is_segment();
    let (finished, tokens_available) = session.replay(&load, interrupt, show_live, !segment)?;
    let mut results = session.results(&load, &finished, tokens_available);
    session.stop();
    let p = &session.p;
    if !segment {
        results.thresholds = p.run.thresholds.iter().map(|t| t.evaluate(&results)).collect();
        if p.run.require_accepts
            && let Some(v) = crate::gate::thresholds::accept_path_unexercised(&results)
        {
            results.thresholds.push(v);
        }
    }
    let mut file = output.file;
    serde_json::to_writer_pretty(file.writer(), &results)
        .context("encoding results")
        .or_cannot_proceed()?;
    file.commit()
        .with_context(|| format!("writing '{}'", results_path.display()))
        .or_cannot_proceed()?;

    let formats: Vec<Format> = p
        .run
        .report
        .formats
        .iter()
        .copied()
        .filter(|f| *f != Format::Json)
        .collect();
    let written = report::write_all(&results, &out_dir, &formats)
        .map_err(anyhow::Error::msg)
        .or_cannot_proceed()?;
    // The gate: a baseline comparison, JUnit, the GitHub summary and annotations.
    let comparison = if args.baseline.is_empty() {
        None
    } else {
        Some(baseline::against(
            &args.baseline,
            &results,
            &results_path,
            &args.gate,
        )?)
    };
    let mut gate_md = report::markdown::render(&results);
    if let Some(c) = &comparison {
        let md = compare::markdown(c);
        for (name, body) in [
            ("compare.md", md.clone().into_bytes()),
            (
                "compare.json",
                serde_json::to_vec_pretty(c).expect("the comparison serializes"),
            ),
        ] {
            let path = out_dir.join(name);
            std::fs::write(&path, body)
                .with_context(|| format!("writing '{}'", path.display()))
                .or_cannot_proceed()?;
        }
        // summary.md carries the comparison too, as the GitHub summary does.
        if let Some(summary) = written
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == "summary.md"))
        {
            let mut text = std::fs::read_to_string(summary)
                .with_context(|| format!("reading '{}'", summary.display()))
                .or_cannot_proceed()?;
            text.push('\n');
            text.push_str(&md);
            std::fs::write(summary, text)
                .with_context(|| format!("writing '{}'", summary.display()))
                .or_cannot_proceed()?;
        }
        gate_md.push('\n');
        gate_md.push_str(&md);
    }
    let comparisons = comparison.as_ref().map_or(&[][..], |c| &c.comparisons);
    if !args.quiet && !args.gate.json {
        print!("{}", report::summary::render(&results, colour(stdout_is_tty())));
        if let Some(c) = &comparison {
            print!("{}", compare::text(c, colour(stdout_is_tty())));
        }
        println!("\n  results     {}", results_path.display());
        if !written.is_empty() {
            let names: Vec<String> = written
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            println!("  reports     {} ({})", out_dir.display(), names.join(", "));
        }
    }
    if let Some(why) = &finished.worker_failure {
        return Err(anyhow!(
            "internal error: {why}; what was measured is in {}",
            results_path.display()
        ))
        .or_cannot_proceed();
    }
    let t = &results.totals;
    if finished.interrupted {
        eprintln!("interrupted: results so far are in {}", results_path.display());
        return Ok(exit::INTERRUPTED);
    }
    if t.completed == 0 && t.transport_errors > 0 {
        let failed = results.thresholds.iter().filter(|v| !v.passed).count();
        if failed > 0 {
            eprintln!("{failed} threshold(s) failed");
        }
        let errs: Vec<String> = results
            .transport_errors
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        return Err(anyhow!(
            "the target {} gave no response at all ({}); results are in {}",
            session.url,
            errs.join(", "),
            results_path.display()
        ))
        .or_cannot_proceed();
    }
    let passed = ci::emit(
        &args.gate,
        &format!("jwtstorm run {}", results.meta.scenario),
        &results.thresholds,
        comparison.as_ref(),
        &gate_md,
        results.totals.duration_s,
        Some(&results_path),
    )?;
    if let Some(why) = &results.meta.aborted {
        eprintln!("aborted: {why}");
        return Ok(exit::VERDICT);
    }
    if !passed {
        let failed = results.thresholds.iter().filter(|v| !v.passed).count();
        let regressions = comparisons.iter().filter(|c| c.regressed()).count();
        eprintln!("{failed} threshold(s) failed, {regressions} regression(s) against the baseline");
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}
