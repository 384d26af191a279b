//! One module per subcommand, plus what several of them share.

pub mod alarms;
pub mod apply;
pub mod audit;
pub mod destinations;
pub mod enrich;
pub mod errors;
pub mod iam;
pub mod schemas;
pub mod serve;
pub mod settings;
pub mod state;
pub mod stream;
pub mod sync;
pub mod tables;
pub mod tokens;
pub mod validate;
pub mod versions;

use lut_core::diag::{Diagnostics, Severity};

/// Prints diagnostics to stderr, one per line.
pub fn print_diagnostics(diags: &Diagnostics) {
    for d in diags {
        eprintln!("{d}");
    }
}

/// Whether these diagnostics fail the command (warnings count under `--strict`).
pub fn fails(diags: &Diagnostics, strict: bool) -> bool {
    diags
        .iter()
        .any(|d| d.severity == Severity::Error || (strict && d.severity == Severity::Warning))
}

/// Logs go to stderr; `LUT_LOG` (e.g. `debug`, `lut_source=trace`) sets the level, else
/// `default` (a server logs each request at `info`; one-shot commands only warnings).
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LUT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into log files or collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// `--format text|json` for listing commands.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SSZ`.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::time(1_717_243_200_500), "2024-06-01 12:00:00Z");
        assert_eq!(super::time(951_782_400_000), "2000-02-29 00:00:00Z");
    }
}
