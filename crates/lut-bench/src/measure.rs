//! Timing helpers (medians over repeated runs after a warm-up), the list of figures, the
//! list of targets with their verdicts, and the process's memory as Linux reports it.

use anyhow::Result;

/// Wall times of the measured runs, in seconds, sorted.
#[derive(Debug, Clone)]
pub struct Sample {
    secs: Vec<f64>,
}

impl Sample {
    pub fn from_secs(mut secs: Vec<f64>) -> Sample {
        assert!(!secs.is_empty(), "no runs");
        secs.sort_by(f64::total_cmp);
        Sample { secs }
    }

    pub fn median(&self) -> f64 {
        let n = self.secs.len();
        if n % 2 == 1 {
            self.secs[n / 2]
        } else {
            (self.secs[n / 2 - 1] + self.secs[n / 2]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.secs[0]
    }

    pub fn max(&self) -> f64 {
        self.secs[self.secs.len() - 1]
    }
}

/// Runs `f` once to warm up, then `runs` times. `f` times its own critical section and
/// returns (seconds, value), so set-up and tear-down stay out of the figure; the value of
/// the last run is returned.
pub fn repeat<T>(runs: usize, mut f: impl FnMut() -> Result<(f64, T)>) -> Result<(Sample, T)> {
    let (_, mut last) = f()?;
    let mut secs = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let (s, v) = f()?;
        secs.push(s);
        last = v;
    }
    Ok((Sample::from_secs(secs), last))
}

/// One reported figure.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// Slowest..fastest run, in the metric's unit.
    pub range: Option<(f64, f64)>,
}

/// All figures of a run, printed as they come and again as a table at the end.
#[derive(Debug, Default)]
pub struct Report {
    pub metrics: Vec<Metric>,
    pub targets: Vec<Target>,
}

/// The outcome of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The threshold is met.
    Pass,
    /// The threshold is not met.
    Miss,
    /// A correctness check failed (output differs): the figure next to it is void.
    Fail,
    /// Not measured in this run (why is in the row).
    Skipped,
    /// Covered elsewhere, or reported without a threshold.
    Info,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skipped",
            Verdict::Info => "info",
        }
    }
}

/// How a target's ratio is judged.
#[derive(Debug, Clone, Copy)]
pub enum Threshold {
    AtLeast(f64),
    AtMost(f64),
}

impl Threshold {
    fn met(self, ratio: f64) -> bool {
        match self {
            Threshold::AtLeast(t) => ratio >= t,
            Threshold::AtMost(t) => ratio <= t,
        }
    }

    fn text(self) -> String {
        match self {
            Threshold::AtLeast(t) => format!("≥ {}", fmt_num(t)),
            Threshold::AtMost(t) => format!("≤ {}", fmt_num(t)),
        }
    }
}

/// One row of the targets table: what was measured, against what, the ratio that is judged
/// and the verdict.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub what: String,
    pub measured: String,
    pub against: String,
    pub ratio: String,
    pub threshold: String,
    pub verdict: Verdict,
}

impl Report {
    /// Records a plain value.
    pub fn value(&mut self, name: &str, value: f64, unit: &str) {
        self.push(Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            range: None,
        });
    }

    /// Records `amount / time` scaled by `scale` (e.g. 1e-6 for "M .../s"), from the median
    /// run, with the slowest and fastest runs as the range.
    pub fn rate(&mut self, name: &str, amount: f64, scale: f64, s: &Sample, unit: &str) {
        self.push(Metric {
            name: name.into(),
            value: amount / s.median() * scale,
            unit: unit.into(),
            range: Some((amount / s.max() * scale, amount / s.min() * scale)),
        });
    }

    /// Records seconds (median, with the range).
    pub fn secs(&mut self, name: &str, s: &Sample) {
        self.push(Metric {
            name: name.into(),
            value: s.median(),
            unit: "s".into(),
            range: Some((s.min(), s.max())),
        });
    }

    /// Judges `ratio` (measured / reference, or whatever `what` says) against `th`.
    pub fn target(
        &mut self,
        id: &str,
        what: &str,
        measured: String,
        against: String,
        ratio: f64,
        th: Threshold,
    ) -> Verdict {
        let verdict = if ratio.is_finite() && th.met(ratio) {
            Verdict::Pass
        } else {
            Verdict::Miss
        };
        self.push_target(Target {
            id: id.into(),
            what: what.into(),
            measured,
            against,
            ratio: fmt_num(ratio),
            threshold: th.text(),
            verdict,
        });
        verdict
    }

    /// A correctness check (PASS or FAIL); `expect` says what passing means.
    pub fn check(
        &mut self,
        id: &str,
        what: &str,
        ok: bool,
        detail: String,
        expect: &str,
    ) -> Verdict {
        let verdict = if ok { Verdict::Pass } else { Verdict::Fail };
        self.push_target(Target {
            id: id.into(),
            what: what.into(),
            measured: detail,
            against: String::new(),
            ratio: String::new(),
            threshold: expect.into(),
            verdict,
        });
        verdict
    }

    /// A target that was not measured, and why.
    pub fn skip(&mut self, id: &str, what: &str, why: &str) {
        self.push_target(Target {
            id: id.into(),
            what: what.into(),
            measured: why.into(),
            against: String::new(),
            ratio: String::new(),
            threshold: String::new(),
            verdict: Verdict::Skipped,
        });
    }

    /// A row without a verdict (covered elsewhere, or a figure reported for information).
    pub fn info(&mut self, id: &str, what: &str, text: String) {
        self.push_target(Target {
            id: id.into(),
            what: what.into(),
            measured: text,
            against: String::new(),
            ratio: String::new(),
            threshold: String::new(),
            verdict: Verdict::Info,
        });
    }

    fn push_target(&mut self, t: Target) {
        let mut line = format!("=> target {} {}: {}", t.id, t.what, t.measured);
        if !t.against.is_empty() {
            line.push_str(&format!(" vs {}", t.against));
        }
        if !t.ratio.is_empty() {
            line.push_str(&format!("; ratio {} (threshold {})", t.ratio, t.threshold));
        }
        println!("{line}: {}", t.verdict.label());
        self.targets.push(t);
    }

    /// The targets as a Markdown table.
    pub fn targets_table(&self) -> String {
        let mut rows = vec![[
            "target",
            "what",
            "measured",
            "compared with",
            "ratio",
            "threshold",
            "verdict",
        ]
        .map(String::from)
        .to_vec()];
        for t in &self.targets {
            rows.push(vec![
                t.id.clone(),
                t.what.clone(),
                t.measured.clone(),
                t.against.clone(),
                t.ratio.clone(),
                t.threshold.clone(),
                t.verdict.label().to_string(),
            ]);
        }
        markdown(&rows, &[4])
    }

    /// Whether any correctness check failed.
    pub fn any_failed(&self) -> bool {
        self.targets.iter().any(|t| t.verdict == Verdict::Fail)
    }

    fn push(&mut self, m: Metric) {
        println!("{}: {} {}", m.name, fmt_num(m.value), m.unit);
        self.metrics.push(m);
    }

    /// The figures as a Markdown table.
    pub fn table(&self) -> String {
        let mut rows = vec![["measurement", "median", "unit", "range over runs"]
            .map(String::from)
            .to_vec()];
        for m in &self.metrics {
            rows.push(vec![
                m.name.clone(),
                fmt_num(m.value),
                m.unit.clone(),
                m.range.map_or(String::new(), |(a, b)| {
                    format!("{} – {}", fmt_num(a), fmt_num(b))
                }),
            ]);
        }
        markdown(&rows, &[1])
    }
}

/// A Markdown table of `rows` (the first is the header); columns in `right` are
/// right-aligned.
fn markdown(rows: &[Vec<String>], right: &[usize]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let mut width = vec![0usize; cols];
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        out.push('|');
        for (c, (w, cell)) in width.iter().zip(r).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            if right.contains(&c) {
                out.push_str(&format!(" {pad}{cell} |"));
            } else {
                out.push_str(&format!(" {cell}{pad} |"));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in width.iter().enumerate() {
                let dashes = "-".repeat(*w);
                if right.contains(&c) {
                    out.push_str(&format!(" {dashes}:|"));
                } else {
                    out.push_str(&format!(" {dashes} |"));
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Three significant digits for small values, none after the point for large ones.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// "nproc" and the CPU model, for the header.
pub fn machine_facts() -> Vec<(String, String)> {
    let mut facts = Vec::new();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    facts.push(("nproc".to_string(), nproc.to_string()));
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    facts.push((
        "cpu".to_string(),
        field("model name").unwrap_or_else(|| "unknown".into()),
    ));
    if let Some(mhz) = field("cpu MHz") {
        facts.push(("cpu MHz".to_string(), mhz));
    }
    if let Some(cache) = field("cache size") {
        facts.push(("cache".to_string(), cache));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(total) = meminfo.lines().find(|l| l.starts_with("MemTotal:")) {
        facts.push((
            "memory".to_string(),
            total.trim_start_matches("MemTotal:").trim().to_string(),
        ));
    }
    facts.push((
        "os".to_string(),
        format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    ));
    facts
}

/// A `kB` field of /proc/self/status, in bytes (Linux only).
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The process's resident set size now.
pub fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

/// The process's peak resident set size (since start or the last [`reset_peak_rss`]).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// Resets the peak RSS to the current RSS (Linux: `5` into /proc/self/clear_refs).
/// Returns false when that is not possible; the peak then counts from process start.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_thresholds() {
        let mut r = Report::default();
        let v = r.target(
            "1",
            "x",
            "a".into(),
            "b".into(),
            0.95,
            Threshold::AtLeast(0.9),
        );
        assert_eq!(v, Verdict::Pass);
        let v = r.target(
            "1",
            "x",
            "a".into(),
            "b".into(),
            0.85,
            Threshold::AtLeast(0.9),
        );
        assert_eq!(v, Verdict::Miss);
        let v = r.target(
            "3",
            "x",
            "a".into(),
            "b".into(),
            0.25,
            Threshold::AtMost(0.2),
        );
        assert_eq!(v, Verdict::Miss);
        let v = r.target(
            "3",
            "x",
            "a".into(),
            "b".into(),
            f64::NAN,
            Threshold::AtLeast(0.0),
        );
        assert_eq!(v, Verdict::Miss);
        assert!(!r.any_failed());
        r.check(
            "2",
            "same output",
            false,
            "differs at byte 3".into(),
            "equal",
        );
        assert!(r.any_failed());
        let t = r.targets_table();
        assert!(t.starts_with("| target |"), "{t}");
        assert_eq!(t.lines().count(), 2 + 5);
    }

    #[test]
    fn samples_are_sorted() {
        let s = Sample::from_secs(vec![3.0, 1.0, 2.0, 4.0]);
        assert_eq!((s.min(), s.median(), s.max()), (1.0, 2.5, 4.0));
    }
}
