//! Timing helpers (medians over repeated runs after a warm-up) and the result list.

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

    fn push(&mut self, m: Metric) {
        println!("{}: {} {}", m.name, fmt_num(m.value), m.unit);
        self.metrics.push(m);
    }

    /// The summary as a Markdown table.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "measurement".to_string(),
            "median".to_string(),
            "unit".to_string(),
            "range over runs".to_string(),
        ]];
        for m in &self.metrics {
            rows.push([
                m.name.clone(),
                fmt_num(m.value),
                m.unit.clone(),
                m.range.map_or(String::new(), |(a, b)| {
                    format!("{} – {}", fmt_num(a), fmt_num(b))
                }),
            ]);
        }
        let mut width = [0usize; 4];
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for (i, r) in rows.iter().enumerate() {
            out.push('|');
            for (c, (w, cell)) in width.iter().zip(r).enumerate() {
                let pad = w - cell.chars().count();
                if c == 1 {
                    out.push_str(&format!(" {}{} |", " ".repeat(pad), cell));
                } else {
                    out.push_str(&format!(" {}{} |", cell, " ".repeat(pad)));
                }
            }
            out.push('\n');
            if i == 0 {
                out.push('|');
                for (c, w) in width.iter().enumerate() {
                    let dashes = "-".repeat(*w);
                    if c == 1 {
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
