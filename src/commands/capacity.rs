//! `jwtstorm capacity`: search for the highest arrival rate that meets the SLOs, once per
//! variant (the scenario as is, or per algorithm or token size), and write capacity.json,
//! capacity.md and a chart.

use std::time::SystemTime;

use anyhow::{Context, anyhow};

use crate::capacity::judge::{judge, step_load};
use crate::capacity::report::{CapacityReport, SearchReport};
use crate::capacity::{self, Search};
use crate::cli::{CapacityArgs, LoadOverrides};
use crate::error::{Failure, ResultExt, exit};
use crate::gate::thresholds;
use crate::model::alg;
use crate::session::{Prepared, Session, SessionError, prepare};
use crate::text::{format_duration, micros};

/// Runs `jwtstorm capacity`.
pub fn run(args: CapacityArgs) -> Result<i32, Failure> {
    let interrupt = crate::interrupt::install();
    let overrides = LoadOverrides {
        url: args.url.clone(),
        ..LoadOverrides::default()
    };
    let p = prepare(args.scenario.as_deref(), &overrides, &args.source)?;
    let (mut slos, mut s) = capacity::from_scenario(&p.loaded)?;
    for t in &args.slos {
        let parsed = thresholds::parse_one(t)
            .map_err(|e| anyhow!("--slo {e}"))
            .or_bad_input()?;
        slos.retain(|x| x.name != parsed.name);
        slos.push(parsed);
    }
    if let Some(v) = args.start_rate {
        s.start_rate = v;
    }
    if let Some(v) = args.max_rate {
        s.max_rate = v;
    }
    if let Some(v) = args.step {
        s.step = v;
    }
    if let Some(v) = args.confirm {
        s.confirm = v;
    }
    if let Some(v) = args.max_steps {
        s.max_steps = v;
    }
    if let Some(v) = args.budget {
        s.budget = v;
    }
    s.check().map_err(|e| anyhow!(e)).or_bad_input()?;
    let variants = variants(&args, &p)?;

    let started = SystemTime::now();
    let out = match &args.out {
        Some(d) => d.clone(),
        None => p.report_folder("capacity", started),
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create '{}'", out.display()))
        .or_bad_input()?;

    let slo_text: Vec<String> = slos
        .iter()
        .map(|t| format!("{} {}", t.name, t.condition))
        .collect();
    eprintln!(
        "capacity search for '{}' ({} variant(s)): SLO {}; steps of {} after {} settle, from {:.0}/s growing x{} up to {:.0}/s, \
         confirm {}; at most {} steps and {} per search; a step also fails below {:.0}% of its rate or with over {:.1}% late requests",
        p.name,
        variants.len(),
        if slo_text.is_empty() {
            "none (rate and lateness only)".into()
        } else {
            slo_text.join(", ")
        },
        format_duration(s.step),
        format_duration(s.settle),
        s.start_rate,
        s.growth,
        s.max_rate,
        format_duration(s.confirm),
        s.max_steps,
        format_duration(s.budget),
        (1.0 - s.shortfall) * 100.0,
        s.max_late * 100.0,
    );

    let mut searches = Vec::new();
    let mut interrupted = false;
    let mut target_url = String::new();
    for (label, prepared) in variants {
        let mut session = match Session::start(prepared, interrupt) {
            Err(SessionError::Interrupted) => {
                interrupted = true;
                break;
            }
            other => other?,
        };
        if !session.p.run.target.embedded {
            for probe in session.preflight(false)? {
                if !args.quiet {
                    eprintln!("preflight: {probe}");
                }
            }
        }
        target_url = session.url.clone();
        let mut search = Search::new(s.clone());
        let mut steps = Vec::new();
        while let Some((phase, rate)) = search.next_step() {
            let load = step_load(&session.p.run.load, &s, phase, rate);
            if !args.quiet {
                eprint!("  {label}: {phase:?} step at {rate:.0}/s ... ");
            }
            let (finished, tokens) = session.replay(&load, interrupt, false, false)?;
            if let Some(why) = &finished.worker_failure {
                return Err(anyhow!("internal error in a capacity step: {why}")).or_cannot_proceed();
            }
            let results = session.results(&load, &finished, tokens);
            let step = judge(&results, phase, rate, &slos, &s);
            if !args.quiet {
                eprintln!(
                    "achieved {:.0}/s, p99 {} (corrected): {}",
                    step.achieved_rps,
                    micros(step.p99_us),
                    if step.passed {
                        "pass".to_string()
                    } else {
                        format!("FAIL ({})", step.reasons.join("; "))
                    }
                );
            }
            if finished.interrupted {
                steps.push(step);
                search.stop("interrupted");
                interrupted = true;
                break;
            }
            search.record(phase, rate, step.passed);
            steps.push(step);
        }
        session.stop();
        searches.push(SearchReport {
            label,
            steps,
            answer: search.answer(),
        });
        if interrupted {
            break;
        }
    }

    let report = CapacityReport {
        format: "jwtstorm-capacity v1",
        tool_version: env!("CARGO_PKG_VERSION"),
        scenario: p.name.clone(),
        started: humantime::format_rfc3339_seconds(started).to_string(),
        target_url,
        slos: slo_text,
        settings: s,
        interrupted,
        searches,
    };
    crate::report::capacity::write(&report, &slos, &out)
        .map_err(anyhow::Error::msg)
        .or_cannot_proceed()?;
    for sr in &report.searches {
        match (sr.answer.capacity_rps, sr.answer.first_failing_rps) {
            (Some(c), Some(b)) => println!(
                "{}: capacity {c:.0} requests/s (first failing rate {b:.0}/s, headroom {:.0}%; {})",
                sr.label,
                (b / c - 1.0) * 100.0,
                sr.answer.ended
            ),
            (Some(c), None) => println!(
                "{}: capacity at least {c:.0} requests/s ({})",
                sr.label, sr.answer.ended
            ),
            (None, _) => println!("{}: no confirmed capacity ({})", sr.label, sr.answer.ended),
        }
    }
    println!("capacity report: {}", out.join("capacity.md").display());
    if interrupted {
        return Ok(exit::INTERRUPTED);
    }
    if report.searches.iter().any(|s| s.answer.capacity_rps.is_none()) {
        return Ok(exit::VERDICT);
    }
    Ok(exit::OK)
}

/// The scenario as is, or one copy per algorithm or token size.
fn variants(args: &CapacityArgs, p: &Prepared) -> Result<Vec<(String, Prepared)>, Failure> {
    match (&args.compare_alg, &args.compare_size) {
        (Some(_), Some(_)) => Err(anyhow!("choose --compare-alg or --compare-size, not both")).or_bad_input(),
        (Some(algs), None) => {
            if !p.run.target.embedded {
                return Err(anyhow!(
                    "--compare-alg needs target.embedded = true: the target must trust freshly generated keys of every algorithm"
                ))
                .or_bad_input();
            }
            Ok(algs
                .iter()
                .map(|a| (alg::name(*a).to_string(), p.with_generated_keys(*a)))
                .collect())
        }
        (None, Some(sizes)) => Ok(sizes
            .iter()
            .map(|n| {
                let mut v = p.clone();
                v.settings.tokens.size = Some(*n);
                (format!("{n}-byte tokens"), v)
            })
            .collect()),
        (None, None) => Ok(vec![(p.name.clone(), p.clone())]),
    }
}
