//! A job's files as the pages read them: opened only if still the file the
//! job wrote (no link followed, same identity), read a page at a time from a
//! byte offset, so the rows of a 1,000,000-row result cost what one page
//! costs; and the failed rows written back in the job's input format.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::bulkcsv::output::{OutputRoot, WrittenIdentity};
use crate::directory::outcome::RowOutcome;
use crate::store::{JobFile, JobStore};

use super::PageError;

/// The columns bulkops adds to a job's input columns in its result file.
const RESULT_COLUMNS: [&str; 3] = ["line", "status", "error"];

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One page of a result file's rows.
#[derive(Debug)]
pub(super) struct RowsPage {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Where the next page starts, if there are more rows.
    pub next: Option<u64>,
}

/// A job's recorded file, opened if it is still the one the job wrote.
pub(super) fn open_file(store: &JobStore, job_id: &str, file: &JobFile) -> Result<File, PageError> {
    let job = store.job(job_id)?;
    let run = store.run(&job.run_id)?;
    let gone = || {
        PageError::NotFound(format!(
            "`{}` changed or is gone since the job wrote it",
            crate::text::printable(&file.path)
        ))
    };
    let identity = file
        .identity
        .as_deref()
        .and_then(|text| text.parse::<WrittenIdentity>().ok())
        .ok_or_else(gone)?;
    OutputRoot::new(&run.output_root)
        .open_written(Path::new(&file.path), &identity)
        .map_err(|error| {
            // A link on the way, say: the file is not the job's any more.
            tracing::warn!(file = %crate::text::printable(&file.path), error = %crate::text::chain(&error), "a job's file is not served");
            gone()
        })?
        .ok_or_else(gone)
}

/// The job's result file record, if it wrote one.
pub(super) fn results_of(store: &JobStore, job_id: &str) -> Result<Option<JobFile>, PageError> {
    Ok(store
        .files(job_id)?
        .into_iter()
        .find(|file| file.kind == "results"))
}

/// Whether a header is a result file's: the input's columns, then bulkops'.
pub(super) fn is_result_header(header: &[String]) -> bool {
    header.len() > RESULT_COLUMNS.len()
        && header[header.len() - RESULT_COLUMNS.len()..]
            .iter()
            .zip(RESULT_COLUMNS)
            .all(|(found, expected)| found == expected)
}

/// Whether a result row's status is a failure.
pub(super) fn failed(row: &[String], header: &[String]) -> bool {
    row.get(header.len() - 2)
        .and_then(|status| RowOutcome::from_key(status))
        .is_some_and(|outcome| !outcome.is_success())
}

fn strings(record: &csv::ByteRecord) -> Vec<String> {
    record
        .iter()
        .map(|field| String::from_utf8_lossy(field).into_owned())
        .collect()
}

fn reader<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(source)
}

fn csv_error(error: &csv::Error) -> PageError {
    PageError::Internal(format!("the result file cannot be read: {error}"))
}

/// The header and where the rows start.
fn header_of(file: &mut File) -> Result<(Vec<String>, u64, bool), PageError> {
    let io = |error: std::io::Error| PageError::Internal(error.to_string());
    let mut start = [0u8; 3];
    let read = file.read(&mut start).map_err(io)?;
    let bom = read == 3 && start == *BOM;
    file.rewind().map_err(io)?;
    let mut csv = reader(BufReader::new(&mut *file));
    let mut record = csv::ByteRecord::new();
    if !csv
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(&e))?
    {
        return Ok((Vec::new(), 0, false));
    }
    let mut header = strings(&record);
    if let Some(first) = header.first_mut()
        && first.starts_with('\u{feff}')
    {
        *first = first.replacen('\u{feff}', "", 1);
    }
    Ok((header, csv.position().byte(), bom))
}

/// Reads up to `limit` rows from `from` (the first row when `None`), failed
/// ones only if asked. A `from` that is not where a row starts is refused.
pub(super) fn read_page(
    mut file: File,
    from: Option<u64>,
    failed_only: bool,
    limit: usize,
) -> Result<RowsPage, PageError> {
    let (header, rows_start, _) = header_of(&mut file)?;
    let start = from.unwrap_or(rows_start);
    if start < rows_start || (start > rows_start && !row_starts_at(&mut file, start)?) {
        return Err(PageError::BadRequest(
            "the page link does not point at a row; open the job's first page".to_owned(),
        ));
    }
    file.seek(SeekFrom::Start(start))
        .map_err(|error| PageError::Internal(error.to_string()))?;
    let mut csv = reader(BufReader::new(file));
    let mut record = csv::ByteRecord::new();
    let mut rows = Vec::new();
    let filter = failed_only && is_result_header(&header);
    loop {
        if !csv
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(&e))?
        {
            return Ok(RowsPage {
                header,
                rows,
                next: None,
            });
        }
        let row = strings(&record);
        if filter && !failed(&row, &header) {
            continue;
        }
        rows.push(row);
        if rows.len() == limit {
            return Ok(RowsPage {
                next: next_shown(&mut csv, &mut record, &header, filter)?.map(|at| start + at),
                header,
                rows,
            });
        }
    }
}

/// Where the next row the page would show starts, if there is one: a page of
/// failed rows only links on when another failed row follows.
fn next_shown<R: Read>(
    csv: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
    header: &[String],
    filter: bool,
) -> Result<Option<u64>, PageError> {
    loop {
        let at = csv.position().byte();
        if !csv.read_byte_record(record).map_err(|e| csv_error(&e))? {
            return Ok(None);
        }
        if !filter || failed(&strings(record), header) {
            return Ok(Some(at));
        }
    }
}

/// Whether the byte before `offset` ends a line.
fn row_starts_at(file: &mut File, offset: u64) -> Result<bool, PageError> {
    let io = |error: std::io::Error| PageError::Internal(error.to_string());
    file.seek(SeekFrom::Start(offset - 1)).map_err(io)?;
    let mut byte = [0u8; 1];
    let read = file.read(&mut byte).map_err(io)?;
    Ok(read == 1 && byte[0] == b'\n')
}

/// Writes the failed rows of a result file with the job's input columns
/// only, so the file can be given back to `importMembers`, `removeMembers`
/// or the device steps as their input. The file must still be as long as
/// when it was checked: one cut short fails rather than giving fewer rows.
pub(super) fn write_failed_rows(mut file: File, out: impl Write) -> std::io::Result<u64> {
    let other = |error: PageError| std::io::Error::other(format!("{error:?}"));
    let length = file.metadata()?.len();
    let (header, rows_start, bom) = header_of(&mut file).map_err(other)?;
    if !is_result_header(&header) {
        return Err(std::io::Error::other("the file is not a result file"));
    }
    let width = header.len() - RESULT_COLUMNS.len();
    let mut out = out;
    if bom {
        out.write_all(BOM)?;
    }
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&header[..width])?;
    file.seek(SeekFrom::Start(rows_start))?;
    let mut csv = reader(BufReader::new(file));
    let mut record = csv::ByteRecord::new();
    let mut written = 0;
    while csv.read_byte_record(&mut record)? {
        let row = strings(&record);
        if failed(&row, &header) {
            let mut cells = row;
            cells.resize(header.len(), String::new());
            writer.write_record(&cells[..width])?;
            written += 1;
        }
    }
    let read = rows_start + csv.position().byte();
    if read != length {
        return Err(std::io::Error::other(format!(
            "the result file is {read} bytes now, {length} when the download started"
        )));
    }
    writer.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(text: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        (dir, file)
    }

    const RESULTS: &str = "member,line,status,error\n\
        a@contoso.example,2,added,\n\
        \"two\nlines\",3,invalidId,\"not an id,\nnor a name\"\n\
        c@contoso.example,5,notFound,nobody\n";

    #[test]
    fn pages_follow_rows_across_quoted_line_breaks() {
        let (_dir, file) = file_of(RESULTS.as_bytes());
        let first = read_page(file.try_clone().unwrap(), None, false, 2).unwrap();
        assert_eq!(first.header, ["member", "line", "status", "error"]);
        assert_eq!(first.rows[1][0], "two\nlines");
        let next = first.next.unwrap();
        assert_eq!(
            &RESULTS.as_bytes()[usize::try_from(next).unwrap()..][..1],
            b"c"
        );
        let second = read_page(file.try_clone().unwrap(), Some(next), false, 2).unwrap();
        assert_eq!(second.rows.len(), 1);
        assert!(second.next.is_none());
        let failed = read_page(file, None, true, 1).unwrap();
        assert_eq!(failed.rows[0][2], "invalidId");
        assert!(failed.next.is_some(), "another failed row follows");
    }

    #[test]
    fn failed_rows_keep_the_input_columns_cells_and_byte_order_mark() {
        let mut with_bom = BOM.to_vec();
        with_bom.extend_from_slice(RESULTS.as_bytes());
        let (_dir, file) = file_of(&with_bom);
        let mut out = Vec::new();
        assert_eq!(write_failed_rows(file, &mut out).unwrap(), 2);
        assert_eq!(
            out,
            b"\xEF\xBB\xBFmember\n\"two\nlines\"\nc@contoso.example\n".to_vec()
        );
    }

    #[test]
    fn a_file_that_is_not_a_result_file_has_no_failed_rows() {
        let (_dir, file) = file_of(b"id,displayName\n1,eng\n");
        assert!(write_failed_rows(file, Vec::new()).is_err());
    }
}
