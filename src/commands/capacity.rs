//! `jwtstorm capacity`: search for the highest arrival rate that meets the SLOs, once per
//! variant (the scenario as is, or per algorithm or token size), and write capacity.json,
//! capacity.md and a chart.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use anyhow::{Context, anyhow};
use serde::Serialize;

use crate::capacity::{self, Answer, Phase, Search, SearchSettings, Step};
use crate::cli::{CapacityArgs, LoadOverrides};
use crate::commands::mint::install_interrupt;
use crate::commands::run::{Prepared, Session, prepare};
use crate::error::{Failure, ResultExt, exit};
use crate::gate::thresholds::{self, Threshold, format_value};
use crate::report::charts::capacity::{Drawn, png, svg};
use crate::report::micros;
use crate::scenario::resolve::KeySource;
use crate::scenario::run::{Model, Stage};
use crate::stats::results::Results;
use crate::token::alg;

/// capacity.json.
#[derive(Debug, Serialize)]
pub struct CapacityReport {
    pub format: &'static str,
    pub tool_version: &'static str,
    pub scenario: String,
    pub started: String,
    pub target_url: String,
    pub slos: Vec<String>,
    pub settings: SearchSettings,
    pub interrupted: bool,
    pub searches: Vec<SearchReport>,
}

/// One search.
#[derive(Debug, Serialize)]
pub struct SearchReport {
    pub label: String,
    pub steps: Vec<Step>,
    pub answer: Answer,
}

/// Runs `jwtstorm capacity`.
pub fn run(args: CapacityArgs) -> Result<i32, Failure> {
    let overrides = LoadOverrides {
        url: args.url.clone(),
        ..LoadOverrides::default()
    };
    let p = prepare(&args.scenario, &overrides)?;
    let (mut slos, mut s) = capacity::from_scenario(&p.loaded).or_bad_input()?;
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
        None => p.run.report.dir.join(&p.name).join(format!(
            "capacity-{}",
            humantime::format_rfc3339_seconds(started)
                .to_string()
                .replace(':', "-")
        )),
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
        crate::units::format_duration(s.step),
        crate::units::format_duration(s.settle),
        s.start_rate,
        s.growth,
        s.max_rate,
        crate::units::format_duration(s.confirm),
        s.max_steps,
        crate::units::format_duration(s.budget),
        (1.0 - s.shortfall) * 100.0,
        s.max_late * 100.0,
    );

    let interrupt = Arc::new(AtomicBool::new(false));
    install_interrupt(interrupt.clone());
    let mut searches = Vec::new();
    let mut interrupted = false;
    let mut target_url = String::new();
    for (label, prepared) in variants {
        let mut session = Session::start(prepared)?;
        target_url = session.url.clone();
        let mut search = Search::new(s.clone());
        let mut steps = Vec::new();
        while let Some((phase, rate)) = search.next_step() {
            let measured = if phase == Phase::Confirm {
                s.confirm
            } else {
                s.step
            };
            let mut load = session.p.run.load.clone();
            load.model = Model::Open;
            load.stages = vec![Stage {
                duration: s.settle + measured,
                rate,
                ramp: false,
            }];
            load.duration = Some(s.settle + measured);
            load.warmup = s.settle;
            load.requests = None;
            if !args.quiet {
                eprint!("  {label}: {phase:?} step at {rate:.0}/s ... ");
            }
            let (finished, tokens) = session.replay(&load, &interrupt, false, false)?;
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
    write_outputs(&report, &slos, &out)?;
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
    let clone = |p: &Prepared| Prepared {
        loaded: p.loaded.clone(),
        name: p.name.clone(),
        settings: p.settings.clone(),
        run: p.run.clone(),
    };
    match (&args.compare_alg, &args.compare_size) {
        (Some(_), Some(_)) => Err(anyhow!("choose --compare-alg or --compare-size, not both")).or_bad_input(),
        (Some(algs), None) => {
            if !p.run.target.embedded {
                return Err(anyhow!(
                    "--compare-alg needs target.embedded = true: the target must trust freshly generated keys of every algorithm"
                ))
                .or_bad_input();
            }
            let mut out = Vec::new();
            for a in algs {
                let parsed = alg::parse(a)
                    .map_err(|e| anyhow!("--compare-alg: {e}"))
                    .or_bad_input()?;
                let mut v = clone(p);
                v.settings.keys.alg = Some(parsed);
                v.settings.keys.source = KeySource::Generate;
                v.settings.keys.kid = None;
                v.settings.verifier.algorithms = Some(vec![parsed]);
                out.push((alg::name(parsed).to_string(), v));
            }
            Ok(out)
        }
        (None, Some(sizes)) => Ok(sizes
            .iter()
            .map(|n| {
                let mut v = clone(p);
                v.settings.tokens.size = Some(*n);
                (format!("{n}-byte tokens"), v)
            })
            .collect()),
        (None, None) => Ok(vec![(p.name.clone(), clone(p))]),
    }
}

/// Judges one step: the SLOs, the achieved rate, and whether requests piled up.
pub fn judge(r: &Results, phase: Phase, offered: f64, slos: &[Threshold], s: &SearchSettings) -> Step {
    let mut reasons = Vec::new();
    for t in slos {
        let v = t.evaluate(r);
        if !v.passed {
            let measured = match v.value {
                Some(x) => format_value(x, v.unit),
                None => v.note.unwrap_or_default(),
            };
            reasons.push(format!("{} {}: {measured}", v.name, v.condition));
        }
    }
    let achieved = r.totals.throughput_rps;
    if achieved < offered * (1.0 - s.shortfall) {
        reasons.push(format!("achieved {achieved:.0}/s of {offered:.0}/s"));
    }
    let sent = (r.totals.sent + r.warmup.sent).max(1);
    let late = r.schedule.as_ref().map_or(0, |x| x.late);
    let late_share = late as f64 / sent as f64;
    if late_share > s.max_late {
        reasons.push(format!(
            "{:.1}% of requests left late (they piled up)",
            late_share * 100.0
        ));
    }
    let t = &r.totals;
    let error_rate =
        (t.transport_errors + t.unexpected_status + t.cancelled) as f64 / t.scheduled.max(1) as f64;
    Step {
        phase,
        offered_rps: offered,
        achieved_rps: achieved,
        p50_us: r.latency_us.corrected.p50,
        p99_us: r.latency_us.corrected.p99,
        error_rate,
        late_share,
        false_accepts: t.false_accepts,
        passed: reasons.is_empty(),
        reasons,
    }
}

fn write_outputs(report: &CapacityReport, slos: &[Threshold], out: &std::path::Path) -> Result<(), Failure> {
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes)
            .with_context(|| format!("writing '{}'", path.display()))
            .or_cannot_proceed()
    };
    write(
        "capacity.json",
        &serde_json::to_vec_pretty(report).expect("capacity report serializes"),
    )?;
    write("capacity.md", markdown(report).as_bytes())?;
    let drawn: Vec<Drawn> = report
        .searches
        .iter()
        .map(|s| Drawn {
            label: &s.label,
            steps: &s.steps,
            answer: &s.answer,
        })
        .collect();
    // The p99 SLO line, when one is set on all requests.
    let slo_ms = slos
        .iter()
        .find(|t| t.metric == "p99" && t.scope.is_none() && !t.uncorrected)
        .map(|t| t.limit / 1000.0);
    let title = format!("Capacity search — {} — {}", report.scenario, report.started);
    let chart = svg(&title, &drawn, slo_ms)
        .map_err(|e| anyhow!(e))
        .or_cannot_proceed()?;
    write("capacity.svg", chart.as_bytes())?;
    png(&title, &drawn, slo_ms, &out.join("capacity.png"))
        .map_err(|e| anyhow!(e))
        .or_cannot_proceed()?;
    Ok(())
}

/// capacity.md: the answer per variant, then every step.
pub fn markdown(r: &CapacityReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# jwtstorm capacity: {}\n", r.scenario);
    if r.interrupted {
        let _ = writeln!(o, "> **Interrupted**: what was found before the stop.\n");
    }
    let _ = writeln!(
        o,
        "Target {}, started {}. SLO: {}. A step also fails when it achieves less than {:.0}% of its rate or more than {:.1}% of its requests leave late.\n",
        r.target_url,
        r.started,
        if r.slos.is_empty() {
            "none".to_string()
        } else {
            r.slos.join(", ")
        },
        (1.0 - r.settings.shortfall) * 100.0,
        r.settings.max_late * 100.0
    );
    let _ = writeln!(
        o,
        "| variant | capacity | first failing rate | headroom | ended |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---|");
    for s in &r.searches {
        let a = &s.answer;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            s.label,
            a.capacity_rps.map_or("-".into(), |c| format!("{c:.0}/s")),
            a.first_failing_rps.map_or("-".into(), |c| format!("{c:.0}/s")),
            a.headroom.map_or("-".into(), |h| format!("{:.0}%", h * 100.0)),
            a.ended
        );
    }
    let _ = writeln!(o, "\n![capacity](capacity.png)\n");
    for s in &r.searches {
        let _ = writeln!(o, "## {}\n", s.label);
        let _ = writeln!(
            o,
            "| step | phase | offered | achieved | p50 | p99 | error rate | late | verdict |"
        );
        let _ = writeln!(o, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
        for (i, st) in s.steps.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {:?} | {:.0}/s | {:.0}/s | {} | {} | {:.2}% | {:.1}% | {} |",
                i + 1,
                st.phase,
                st.offered_rps,
                st.achieved_rps,
                micros(st.p50_us),
                micros(st.p99_us),
                st.error_rate * 100.0,
                st.late_share * 100.0,
                if st.passed {
                    "pass".to_string()
                } else {
                    format!("fail: {}", st.reasons.join("; "))
                }
            );
        }
        o.push('\n');
    }
    o
}
