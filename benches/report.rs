//! Rendering every report format for a 10-million-request run. Histograms make the cost depend
//! on the number of distinct latencies, not on the request count: the fixture's histograms are
//! replaced by ones holding 10 million values spread over 20,000 distinct latencies.

use criterion::{Criterion, criterion_group, criterion_main};
use jwtstorm::model::Format;
use jwtstorm::report;
use jwtstorm::stats::recorder::histogram;
use jwtstorm::stats::results::{Results, encode_histogram};

fn big_results() -> Results {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/results.json"
    ))
    .unwrap();
    let mut r: Results = serde_json::from_str(&text).unwrap();
    let keys: Vec<String> = r.histograms.keys().cloned().collect();
    let per_key = 10_000_000 / keys.len() as u64;
    for (k, key) in keys.iter().enumerate() {
        let mut h = histogram();
        let distinct = 20_000u64;
        for i in 0..distinct {
            // Log-spread from 50 µs to about 2 s.
            let v = (50.0 * (1.0 + i as f64 / distinct as f64 * 40_000.0).powf(1.0 + k as f64 * 0.01)) as u64;
            h.record_n(v.max(1), per_key / distinct).unwrap();
        }
        r.histograms.insert(key.clone(), encode_histogram(&h));
    }
    r.totals.completed = 10_000_000;
    r
}

fn bench(c: &mut Criterion) {
    let r = big_results();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.bench_function("every format, 10M-request results", |b| {
        b.iter(|| report::write_all(&r, dir.path(), &Format::ALL).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
