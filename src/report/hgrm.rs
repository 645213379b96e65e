//! `latency.hgrm`: the percentile distribution in HdrHistogram's text format (as Java's
//! `outputPercentileDistribution` prints it, values in milliseconds), which the public
//! HdrHistogram plotters read.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Renders `h` (microseconds) with 5 reporting ticks per half distance, in milliseconds.
pub fn render(h: &Histogram<u64>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        return o;
    }
    let scale = 1000.0;
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = h.highest_equivalent(v.value_iterated_to()) as f64 / scale;
        if q < 1.0 {
            let _ = writeln!(
                o,
                "{value:>12.3} {q:>14.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(o, "{value:>12.3} {q:>14.12} {total:>10}",);
        }
    }
    let _ = writeln!(
        o,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / scale,
        h.stdev() / scale
    );
    let _ = writeln!(
        o,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / scale,
        h.len()
    );
    let _ = writeln!(
        o,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        // The sub-bucket count HdrHistogram derives from the significant digits.
        (2.0 * 10f64.powi(i32::from(h.sigfig()))).log2().ceil().exp2() as u64
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_at_the_max_with_every_count() {
        let mut h = crate::stats::recorder::histogram();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let text = render(&h);
        let last = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        let cols: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "1000");
        assert!(text.contains("Total count    =         1000"));
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    }
}
