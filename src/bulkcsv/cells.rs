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

/// How a CSV file is written: what happens to formula cells, and whether it
/// starts with a UTF-8 byte order mark (Excel reads accents right with one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsvStyle {
    pub formulas: Formulas,
    pub bom: bool,
}

impl From<Formulas> for CsvStyle {
    fn from(formulas: Formulas) -> Self {
        Self {
            formulas,
            bom: false,
        }
    }
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
    inner: csv::Writer<Prefixed<W>>,
    policy: Formulas,
}

/// A sink that writes a prefix (the byte order mark) before its first bytes.
struct Prefixed<W> {
    sink: W,
    prefix: &'static [u8],
}

impl<W: Write> Write for Prefixed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if !self.prefix.is_empty() {
            self.sink.write_all(self.prefix)?;
            self.prefix = &[];
        }
        self.sink.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

impl<W: Write> CsvWriter<W> {
    /// A writer of rows into `sink`.
    pub fn new(sink: W, style: impl Into<CsvStyle>) -> Self {
        let style = style.into();
        let prefix: &'static [u8] = if style.bom { BOM } else { &[] };
        Self {
            inner: csv::Writer::from_writer(Prefixed { sink, prefix }),
            policy: style.formulas,
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
    fn a_byte_order_mark_starts_the_file_when_asked() {
        for (bom, start) in [(true, &b"\xEF\xBB\xBFname"[..]), (false, &b"name"[..])] {
            let mut out = Vec::new();
            {
                let mut writer = CsvWriter::new(
                    &mut out,
                    CsvStyle {
                        formulas: Formulas::Neutralize,
                        bom,
                    },
                );
                writer.write_row(["name"]).unwrap();
                writer.write_row(["Zoë"]).unwrap();
                writer.flush().unwrap();
            }
            assert!(out.starts_with(start), "{out:?}");
            assert_eq!(
                out.windows(3).filter(|w| *w == BOM).count(),
                usize::from(bom)
            );
        }
    }

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
        let bytes = writer.inner.into_inner().unwrap().sink;
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "id,'=cmd|' /C calc'!A0,\"two\nlines\"\n"
        );
    }
}
