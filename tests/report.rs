//! Reports from a fixed results file (a real run against a deliberately broken verifier, with
//! false accepts, 500s, closed connections and failing thresholds): snapshots of the text
//! summary and summary.md, charts that are real PNGs with something drawn, a self-contained
//! well-formed report.html, `jwtstorm report` re-rendering and comparing, and a real-browser
//! check when Chromium is installed.

use std::path::{Path, PathBuf};

use clap::Parser;
use jwtstorm::cli::Cli;
use jwtstorm::model::Format;
use jwtstorm::report::{self, charts::Chart};
use jwtstorm::stats::results::Results;

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results.json")
}

fn fixture() -> Results {
    serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap()
}

#[test]
fn text_summary_snapshot() {
    insta::assert_snapshot!(report::summary::render(&fixture(), false));
}

#[test]
fn summary_md_snapshot() {
    insta::assert_snapshot!(report::markdown::render(&fixture()));
}

#[test]
fn hgrm_snapshot() {
    let r = fixture();
    let h = report::charts::merged(&r, None, &report::charts::RESPONSES, true).unwrap();
    insta::assert_snapshot!(report::hgrm::render(&h));
}

#[test]
fn every_chart_is_a_png_with_something_drawn() {
    let r = fixture();
    let dir = tempfile::tempdir().unwrap();
    for chart in Chart::ALL {
        let path = dir.path().join(format!("{}.png", chart.name().0));
        chart.png(&r, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), report::charts::SIZE, "{path:?}");
        let channels = info.color_type.samples();
        // The plot area (the middle of the image) holds non-white pixels: lines, bars, text.
        let (w, h) = (info.width as usize, info.height as usize);
        let mut drawn = 0;
        for y in h / 5..h * 4 / 5 {
            for x in w / 5..w * 4 / 5 {
                let i = (y * w + x) * channels;
                if buf[i..i + 3].iter().any(|v| *v < 200) {
                    drawn += 1;
                }
            }
        }
        assert!(drawn > 2000, "{}: only {drawn} drawn pixels", chart.name().0);
        // And it differs from an empty chart of the same kind: text was drawn with the font.
        let svg = chart.svg(&r).unwrap();
        assert!(
            svg.contains("<text") && svg.contains(&r.meta.scenario),
            "{}",
            chart.name().0
        );
    }
}

#[test]
fn report_html_is_self_contained_and_well_formed() {
    let html = report::html::render(&fixture());
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, opts).expect("report.html is well-formed");
    for node in doc.descendants() {
        assert_ne!(node.tag_name().name(), "script", "no scripts");
        assert_ne!(node.tag_name().name(), "link", "no external stylesheets");
        for attr in ["src", "href"] {
            if let Some(v) = node.attribute(attr) {
                assert!(!v.contains("://") && !v.starts_with("//"), "external {attr}={v}");
            }
        }
    }
    assert!(!html.contains("@import") && !html.contains("url("));
    assert_eq!(
        doc.descendants().filter(|n| n.tag_name().name() == "svg").count(),
        4
    );
    // The false accepts and failing thresholds are there, flagged.
    assert!(html.contains("<span class=\"bad\">FAIL</span>"));
    assert!(html.contains("alg_none"));
    assert!(html.contains("Evidence: sample answers by class and verdict"));
}

#[test]
fn report_command_rerenders_and_compares() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("one");
    let cli = Cli::try_parse_from([
        "jwtstorm",
        "report",
        fixture_path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(jwtstorm::run(cli).map_err(|e| e.to_string()), Ok(0));
    for f in [
        "summary.md",
        "report.html",
        "latency.hgrm",
        "latency-uncorrected.hgrm",
        "latency-percentiles.svg",
        "latency-percentiles.png",
        "latency-histogram.png",
        "timeline.png",
        "rejections.png",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // The same file twice compares with itself: every change is zero.
    let cmp = dir.path().join("cmp");
    let f = fixture_path();
    let cli = Cli::try_parse_from([
        "jwtstorm",
        "report",
        f.to_str().unwrap(),
        f.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
        "--format",
        "md,png",
    ])
    .unwrap();
    assert_eq!(jwtstorm::run(cli).map_err(|e| e.to_string()), Ok(0));
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
    assert!(md.contains("| p99 (corrected) |"), "{md}");
    assert!(
        md.lines()
            .filter(|l| l.starts_with("| p"))
            .all(|l| l.contains("+0.0%")),
        "{md}"
    );
    assert!(cmp.join("compare.png").is_file());
    // A file that is not results is a clear error, exit 2.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 1}").unwrap();
    let err = jwtstorm::run(Cli::try_parse_from(["jwtstorm", "report", bad.to_str().unwrap()]).unwrap())
        .unwrap_err();
    assert_eq!(err.code, 2);
    assert!(err.to_string().contains("not a jwtstorm results file"), "{err}");
    let formats: Vec<Format> = ["md", "html", "svg", "png", "hgrm", "json"]
        .iter()
        .map(|f| f.parse().unwrap())
        .collect();
    assert_eq!(formats.len(), Format::ALL.len());
}

/// Loads report.html in headless Chromium: no console errors, and a screenshot is taken.
#[test]
fn report_html_loads_in_a_real_browser() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        // .ci/run installs Chromium, so in CI a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "no Chromium found, and CI is set: .ci/run must install it (apt-get install chromium)"
        );
        eprintln!("skipping: no Chromium found (apt-get install chromium); .ci/run installs it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    std::fs::write(&html, report::html::render(&fixture())).unwrap();
    let shot = dir.path().join("shot.png");
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", dir.path().join("profile").display()),
            "--window-size=1200,3000",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", html.display()),
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(shot.is_file(), "no screenshot: {log}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}
