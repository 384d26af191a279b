//! The validation report of one table version (§4): totals and the first problems.

use std::fmt;

use serde::Serialize;

use crate::data::DataFormat;

/// How many problems a report keeps in detail; the rest are only counted.
pub const MAX_PROBLEMS: usize = 100;

/// One bad row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// 1-based row number, header excluded.
    pub row: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(col) = &self.column {
            write!(f, ", column {col:?}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuildReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
    pub compressed: bool,
    /// Rows read (valid or not).
    pub rows_read: u64,
    /// Rows in the built table.
    pub rows_loaded: u64,
    /// Rows rejected (bad values, missing keys, duplicates).
    pub rows_invalid: u64,
    /// Of those, repeated primary keys.
    pub duplicate_keys: u64,
    /// How many invalid rows the table tolerates (`maxInvalidRows`).
    pub max_invalid_rows: u64,
    /// The first [`MAX_PROBLEMS`] problems, in file order.
    pub problems: Vec<RowProblem>,
    /// Columns in the data that the schema does not describe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
    /// A problem that made the whole file unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
}

impl BuildReport {
    /// Whether this version is rejected as a whole.
    pub fn rejected(&self) -> bool {
        self.fatal.is_some() || self.rows_invalid > self.max_invalid_rows
    }

    pub(crate) fn problem(&mut self, p: RowProblem) {
        self.rows_invalid += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// A one-line summary: "1000 rows read, 998 loaded, 2 invalid (2 skipped, up to 5 allowed)".
    pub fn summary(&self) -> String {
        if let Some(f) = &self.fatal {
            return format!("rejected: {f}");
        }
        let mut s = format!("{} rows read, {} loaded", self.rows_read, self.rows_loaded);
        if self.rows_invalid > 0 {
            s.push_str(&format!(", {} invalid", self.rows_invalid));
            if self.duplicate_keys > 0 {
                s.push_str(&format!(" ({} duplicate keys)", self.duplicate_keys));
            }
            if self.rejected() {
                s.push_str(&format!(
                    "; rejected: more than the {} invalid rows allowed (maxInvalidRows)",
                    self.max_invalid_rows
                ));
            } else {
                s.push_str(&format!(", skipped ({} allowed)", self.max_invalid_rows));
            }
        }
        s
    }
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary())?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        let hidden = self.rows_invalid.saturating_sub(self.problems.len() as u64);
        if hidden > 0 {
            writeln!(f, "  ... and {hidden} more")?;
        }
        Ok(())
    }
}
