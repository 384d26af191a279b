//! One module per subcommand.

pub mod enrich;
pub mod validate;

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
