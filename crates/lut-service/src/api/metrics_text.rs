//! The Prometheus text exposition format (0.0.4): family headers, samples with escaped
//! label values, and fixed-bucket histograms rendered cumulatively.

use std::fmt::{Display, Write};

/// Buckets of HTTP request durations, in seconds: API calls take milliseconds, while a
/// streaming enrichment of a large body may take minutes.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Buckets of table check durations, in seconds: from a conditional GET answered "not
/// modified" to downloading and indexing a multi-GB object.
pub const CHECK_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// Observations counted into fixed upper bounds (`le`); values above the last bound count
/// only towards `+Inf`, which is the total count.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket, not cumulative: observations in (previous bound, bound].
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// A label value with `\`, `"` and newlines escaped.
pub struct LabelValue<'a>(pub &'a str);

impl Display for LabelValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The exposition being written. Writing to a `String` cannot fail, so results of
/// `write!` are ignored.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn finish(self) -> String {
        self.out
    }

    /// `# HELP` and `# TYPE` of a family; every family is written once, before its samples.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// The `_bucket` series (cumulative, ending with `le="+Inf"`), `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0;
        for (bound, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&bound.to_string()));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {}", h.count);
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.sum);
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.count);
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            let _ = write!(self.out, "{k}=\"{}\"", LabelValue(v));
        }
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let mut h = Histogram::new(&[0.5, 1.0]);
        for v in [0.25, 0.5, 0.75, 8.0] {
            h.observe(v);
        }
        let mut e = Exposition::default();
        e.histogram("x", &[("a", "b")], &h);
        assert_eq!(
            e.finish(),
            "x_bucket{a=\"b\",le=\"0.5\"} 2\nx_bucket{a=\"b\",le=\"1\"} 3\n\
             x_bucket{a=\"b\",le=\"+Inf\"} 4\nx_sum{a=\"b\"} 9.5\nx_count{a=\"b\"} 4\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.sample("m", &[("t", "a\"b\\c\nd")], 1);
        e.sample("n", &[], 2.5);
        assert_eq!(e.finish(), "m{t=\"a\\\"b\\\\c\\nd\"} 1\nn 2.5\n");
    }
}
