//! Writing CSV cells that administrators open in Excel.
//!
//! A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is
//! read by spreadsheet programs as a formula, so a display name such as
//! `=HYPERLINK("https://evil.example","Payroll")` would become a live link
//! in a members download. By default every cell bulkops writes that starts
//! with one of these characters gets a leading `'` (OWASP's rule for CSV
//! injection), which spreadsheets show as text. A manifest can ask for exact
//! values instead (`spec.csv.formulas: keep`) when the files feed other tools.

use std::borrow::Cow;
use std::io::Write;

/// What to do with cells that a spreadsheet would read as formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Formulas {
    /// Prefix them with `'` so that they show as text.
    #[default]
    Neutralize,
    /// Write them exactly as they are.
    Keep,
}

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as it is written under `policy`.
pub fn cell(value: &str, policy: Formulas) -> Cow<'_, str> {
    match policy {
        Formulas::Neutralize if value.starts_with(FORMULA_STARTS) => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// A CSV writer that neutralizes formula cells by its policy.
pub struct CsvWriter<W: Write> {
    inner: csv::Writer<W>,
    policy: Formulas,
}

impl<W: Write> CsvWriter<W> {
    /// A writer of rows into `sink`.
    pub fn new(sink: W, policy: Formulas) -> Self {
        Self {
            inner: csv::Writer::from_writer(sink),
            policy,
        }
    }

    /// Writes one row.
    pub fn write_row<I, T>(&mut self, row: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        // Field by field: a cell that needs no prefix is written as it is,
        // without a copy.
        for value in row {
            self.inner
                .write_field(cell(value.as_ref(), self.policy).as_bytes())?;
        }
        self.inner.write_record(None::<&[u8]>)
    }

    /// Flushes what is buffered to the sink.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralized_unless_kept() {
        for value in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(value, Formulas::Neutralize), format!("'{value}"));
            assert_eq!(cell(value, Formulas::Keep), value);
        }
        for value in ["Alain", "", "a=b", "9832aad8-e4fe-496b-a604-95c6ef01ae75"] {
            assert_eq!(cell(value, Formulas::Neutralize), value);
        }
    }

    #[test]
    fn rows_are_written_as_csv() {
        let mut writer = CsvWriter::new(Vec::new(), Formulas::Neutralize);
        writer
            .write_row(["id", "=cmd|' /C calc'!A0", "two\nlines"])
            .unwrap();
        writer.flush().unwrap();
        let bytes = writer.inner.into_inner().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "id,'=cmd|' /C calc'!A0,\"two\nlines\"\n"
        );
    }
}
