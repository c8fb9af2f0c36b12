//! Reading member lists for `importMembers` and `removeMembers`.
//!
//! Administrators bring lists in many shapes, and all of them are accepted:
//! the Entra admin center's import template (header `Member object ID or user
//! principal name [memberObjectIdOrUpn] Required`, with or without the
//! `version:v1.0` row above it and the `Example:` row below it); a single
//! `ObjectId` or `id` column; a bulkops members download (its `Object ID`
//! column); or a plain list without header. Values are object ids or user
//! principal names. A UTF-8 byte order mark, CRLF line ends, blank lines,
//! spaces around values, quoted values over several lines (a display name
//! with a line break) and the empty columns Excel adds (`version:v1.0,`) are
//! tolerated. The file is read as a stream, with limits: a value may hold
//! [`MAX_FIELD`] bytes and a row [`MAX_RECORD`], so a broken or hostile file
//! cannot exhaust memory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest value a member list may hold, in bytes.
pub const MAX_FIELD: usize = 64 * 1024;
/// The longest row a member list may hold, in bytes.
pub const MAX_RECORD: u64 = 1024 * 1024;
/// How much of a value messages quote.
const QUOTED: usize = 80;

/// The header cell of the admin center's import and remove templates.
pub const TEMPLATE_HEADER: &str =
    "Member object ID or user principal name [memberObjectIdOrUpn] Required";

/// Header cells that name the member column, compared without case.
const ID_COLUMNS: [&str; 6] = [
    "memberobjectidorupn",
    "member object id or user principal name",
    "objectid",
    "object id",
    "id",
    "userprincipalname",
];

/// Why a member list cannot be read at all.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum MemberListError {
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(
        code(bulkops::csv::read),
        help("check that the file exists and is readable")
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is empty", path.display())]
    #[diagnostic(
        code(bulkops::csv::empty),
        help(
            "the file needs a header row and one member per row, as in the admin center's import template"
        )
    )]
    Empty { path: PathBuf },
    #[error("`{}`, line {line}: the text is not UTF-8: save the file as \"CSV UTF-8 (Comma delimited)\"", path.display())]
    #[diagnostic(
        code(bulkops::csv::encoding),
        help("save the file as UTF-8 (\"CSV UTF-8\" in Excel)")
    )]
    NotUtf8 { path: PathBuf, line: u64 },
    #[error("`{}` is UTF-16 text (Excel's \"Unicode Text\"), not a UTF-8 CSV: save it as \"CSV UTF-8 (Comma delimited)\"", path.display())]
    #[diagnostic(
        code(bulkops::csv::utf16),
        help(
            "in Excel: File > Save As > \"CSV UTF-8 (Comma delimited)\"; or convert it: `iconv -f UTF-16 -t UTF-8 FILE`"
        )
    )]
    Utf16 { path: PathBuf },
    #[error("`{}`, line {line}: the values are separated by `;`, not `,`: save the file as \"CSV UTF-8 (Comma delimited)\"", path.display())]
    #[diagnostic(
        code(bulkops::csv::semicolons),
        help(
            "Excel saves `;`-separated CSV where `,` is the decimal mark; in Excel: File > Save As > \"CSV UTF-8 (Comma delimited)\", or change the list separator"
        )
    )]
    Semicolons { path: PathBuf, line: u64 },
    #[error("`{}`, line {line}: the header `{found}` names no member column", path.display())]
    #[diagnostic(
        code(bulkops::csv::header),
        help(
            "use the admin center's template header `Member object ID or user principal name [memberObjectIdOrUpn] Required`, a column `ObjectId` or `id`, or a list of object ids or UPNs without header"
        )
    )]
    WrongHeader {
        path: PathBuf,
        line: u64,
        found: String,
    },
    #[error("`{}`, line {line}: the header `{found}` names more than one member column", path.display())]
    #[diagnostic(
        code(bulkops::csv::two_columns),
        help(
            "keep one member column (the template's, `ObjectId`, `id` or `userPrincipalName`), or rename the others, so it is clear who each row names"
        )
    )]
    TwoMemberColumns {
        path: PathBuf,
        line: u64,
        found: String,
    },
    #[error("`{}`, line {line}: a row is longer than {} bytes", path.display(), MAX_RECORD)]
    #[diagnostic(
        code(bulkops::csv::too_long),
        help(
            "a quote that is opened and never closed makes the rest of the file one value; check the quoting from that line on"
        )
    )]
    TooLong { path: PathBuf, line: u64 },
    #[error("`{}`, line {line}: {message}", path.display())]
    #[diagnostic(
        code(bulkops::csv::malformed),
        help(
            "check the quoting on that line; a field that contains a comma must be in double quotes"
        )
    )]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// How a row names its member.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberKey {
    /// A directory object id, lowercased.
    ObjectId(String),
    /// A user principal name, as written.
    Upn(String),
}

impl MemberKey {
    /// The key as written in result files.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ObjectId(id) | Self::Upn(id) => id,
        }
    }

    /// A compact, case-insensitive identity for spotting repeated rows.
    pub fn identity(&self) -> u128 {
        match self {
            Self::ObjectId(id) => parse_guid(id).unwrap_or_default(),
            Self::Upn(upn) => hash128(&upn.to_lowercase()),
        }
    }
}

/// One data row of a member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The 1-based line number in the file.
    pub line: u64,
    /// The row's fields as written, for the result file.
    pub fields: Vec<String>,
    /// The member, or why the value names none.
    pub key: Result<MemberKey, String>,
}

/// A member list being read, row by row.
pub struct MemberList {
    path: PathBuf,
    reader: csv::Reader<Bounded<Box<dyn Read + Send>>>,
    /// Bytes read since the last complete row, shared with the reader.
    since_row: Arc<AtomicU64>,
    /// The line the last complete row started on.
    last_line: u64,
    column: usize,
    /// The header row as written, or `None` for a list without header.
    header: Option<Vec<String>>,
    /// A first data row read while looking for the header.
    pending: Option<csv::ByteRecord>,
    skip_example: bool,
    record: csv::ByteRecord,
}

/// A reader that fails once a row grows past [`MAX_RECORD`] bytes (plus what
/// the CSV reader buffers ahead).
struct Bounded<R> {
    inner: R,
    since_row: Arc<AtomicU64>,
}

/// The error a [`Bounded`] reader fails with.
#[derive(Debug)]
struct RowTooLong;

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a row is longer than {MAX_RECORD} bytes")
    }
}

impl std::error::Error for RowTooLong {}

/// What the CSV reader buffers ahead of the row it returns.
const READ_AHEAD: usize = 64 * 1024;

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let total = self.since_row.fetch_add(read as u64, Ordering::Relaxed) + read as u64;
        if total > MAX_RECORD + READ_AHEAD as u64 {
            return Err(std::io::Error::other(RowTooLong));
        }
        Ok(read)
    }
}

impl MemberList {
    /// Opens a member list file and reads its header.
    pub fn open(path: &Path) -> Result<Self, MemberListError> {
        let file = Self::open_file(path)?;
        Self::from_reader(path, Box::new(file))
    }

    /// Opens a member list file for reading, refusing what is not a regular
    /// file (a named pipe would never end) and an empty file.
    pub fn open_file(path: &Path) -> Result<std::fs::File, MemberListError> {
        let file =
            crate::files::input::open_regular(path).map_err(|source| MemberListError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let length = file.metadata().map_or(1, |m| m.len());
        if length == 0 {
            return Err(MemberListError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(file)
    }

    /// Reads a member list from any reader; `path` names it in messages.
    pub fn from_reader(path: &Path, reader: Box<dyn Read + Send>) -> Result<Self, MemberListError> {
        let since_row = Arc::new(AtomicU64::new(0));
        let bounded = Bounded {
            inner: reader,
            since_row: Arc::clone(&since_row),
        };
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(READ_AHEAD)
            .from_reader(bounded);
        let mut list = Self {
            path: path.to_path_buf(),
            reader,
            since_row,
            last_line: 0,
            column: 0,
            header: None,
            pending: None,
            skip_example: false,
            record: csv::ByteRecord::new(),
        };
        list.read_header()?;
        Ok(list)
    }

    /// The header row as written, if the file has one.
    pub fn header(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    fn read_header(&mut self) -> Result<(), MemberListError> {
        let mut first = self
            .next_non_blank()?
            .ok_or_else(|| MemberListError::Empty {
                path: self.path.clone(),
            })?;
        // Excel pads the template with empty columns once a note is typed
        // beside it: `version:v1.0,` is still the template's first row.
        let only_first = |fields: &[String]| fields.iter().skip(1).all(|f| f.trim().is_empty());
        if only_first(&first.fields) && first.fields[0].to_ascii_lowercase().starts_with("version:")
        {
            first = self
                .next_non_blank()?
                .ok_or_else(|| MemberListError::Empty {
                    path: self.path.clone(),
                })?;
        }
        match header_columns(&first.fields).as_slice() {
            [column] => {
                self.column = *column;
                self.skip_example = true;
                self.header = Some(first.fields);
                return Ok(());
            }
            [] => {}
            _ => {
                return Err(MemberListError::TwoMemberColumns {
                    path: self.path.clone(),
                    line: first.line,
                    found: quote(&first.fields.join(",")),
                });
            }
        }
        if only_first(&first.fields) && classify(&first.fields[0]).is_ok() {
            self.pending = Some(first.record);
            return Ok(());
        }
        if first.fields.len() == 1 && first.fields[0].contains(';') {
            return Err(MemberListError::Semicolons {
                path: self.path.clone(),
                line: first.line,
            });
        }
        Err(MemberListError::WrongHeader {
            path: self.path.clone(),
            line: first.line,
            found: quote(&first.fields.join(",")),
        })
    }

    /// The next row with any non-blank field.
    fn next_non_blank(&mut self) -> Result<Option<RawRow>, MemberListError> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|error| self.malformed(&error))?;
            if !more {
                return Ok(None);
            }
            self.since_row.store(0, Ordering::Relaxed);
            let line = self.record.position().map_or(0, csv::Position::line);
            self.last_line = line;
            if self.record.iter().any(|field| field.len() > MAX_FIELD) {
                return Err(MemberListError::Malformed {
                    path: self.path.clone(),
                    line,
                    message: format!("a value is longer than {MAX_FIELD} bytes"),
                });
            }
            let fields = decode(&self.record, &self.path, line)?;
            if fields.iter().any(|field| !field.trim().is_empty()) {
                return Ok(Some(RawRow {
                    line,
                    fields,
                    record: self.record.clone(),
                }));
            }
        }
    }

    fn malformed(&self, error: &csv::Error) -> MemberListError {
        if let csv::ErrorKind::Io(io) = error.kind() {
            if io.get_ref().is_some_and(
                <dyn std::error::Error + std::marker::Send + std::marker::Sync + 'static>::is::<
                    RowTooLong,
                >,
            ) {
                return MemberListError::TooLong {
                    path: self.path.clone(),
                    line: self.last_line + 1,
                };
            }
            return MemberListError::Io {
                path: self.path.clone(),
                source: std::io::Error::new(io.kind(), io.to_string()),
            };
        }
        let line = error.position().map_or(0, csv::Position::line);
        MemberListError::Malformed {
            path: self.path.clone(),
            line,
            message: error.to_string(),
        }
    }

    /// The next data row, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<MemberRow>, MemberListError> {
        loop {
            let raw = match self.pending.take() {
                Some(record) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    RawRow {
                        line,
                        fields: decode(&record, &self.path, line)?,
                        record,
                    }
                }
                None => match self.next_non_blank()? {
                    Some(raw) => raw,
                    None => return Ok(None),
                },
            };
            let value = raw.fields.get(self.column).map_or("", |field| field.trim());
            if std::mem::take(&mut self.skip_example)
                && value.to_ascii_lowercase().starts_with("example:")
            {
                continue;
            }
            // An unclosed quote makes the member value run over lines, even
            // on the last row (where a closing quote is never found).
            let raw_value = raw.fields.get(self.column).map_or("", String::as_str);
            let key = if raw_value.contains(['\n', '\r']) {
                Err(format!(
                    "`{}` runs over several lines; a closing quote is probably missing",
                    quote(value)
                ))
            } else {
                classify(value)
            };
            return Ok(Some(MemberRow {
                line: raw.line,
                fields: raw.fields,
                key,
            }));
        }
    }
}

impl Iterator for MemberList {
    type Item = Result<MemberRow, MemberListError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
    }
}

struct RawRow {
    line: u64,
    fields: Vec<String>,
    record: csv::ByteRecord,
}

fn decode(
    record: &csv::ByteRecord,
    path: &Path,
    line: u64,
) -> Result<Vec<String>, MemberListError> {
    record
        .iter()
        .enumerate()
        .map(|(index, bytes)| {
            let bytes = if line <= 1 && index == 0 {
                bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
            } else {
                bytes
            };
            std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| {
                let utf16 = line <= 1
                    && index == 0
                    && (bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF"));
                if utf16 {
                    MemberListError::Utf16 {
                        path: path.to_path_buf(),
                    }
                } else {
                    MemberListError::NotUtf8 {
                        path: path.to_path_buf(),
                        line,
                    }
                }
            })
        })
        .collect()
}

/// The indexes of the member columns in a header row: none when it is not
/// a header, one when it names its member column, more when it is ambiguous.
fn header_columns(fields: &[String]) -> Vec<usize> {
    fields
        .iter()
        .map(|field| field.trim().to_ascii_lowercase())
        .enumerate()
        .filter(|(_, field)| {
            field.contains("[memberobjectidorupn]") || ID_COLUMNS.contains(&field.as_str())
        })
        .map(|(index, _)| index)
        .collect()
}

/// A value for a message: at most [`QUOTED`] characters, with control
/// characters escaped.
pub fn quote(value: &str) -> String {
    let mut shown: String = value
        .chars()
        .take(QUOTED)
        .flat_map(char::escape_default)
        .collect();
    if value.chars().nth(QUOTED).is_some() {
        shown.push('…');
    }
    shown
}

/// Reads a value as an object id or a user principal name.
pub fn classify(value: &str) -> Result<MemberKey, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the row has no member".to_owned());
    }
    if value.contains(['\n', '\r']) {
        return Err(format!(
            "`{}` runs over several lines; a closing quote is probably missing",
            quote(value)
        ));
    }
    if parse_guid(value).is_some() {
        return Ok(MemberKey::ObjectId(value.to_ascii_lowercase()));
    }
    if is_upn(value) {
        return Ok(MemberKey::Upn(value.to_owned()));
    }
    Err(format!(
        "`{}` is neither an object id nor a user principal name",
        quote(value)
    ))
}

fn is_upn(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>' | '"')
        })
}

/// A GUID as a number, if `text` is one (`8-4-4-4-12` hex digits).
pub fn parse_guid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (position, byte) in bytes.iter().enumerate() {
        if matches!(position, 8 | 13 | 18 | 23) {
            if *byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = char::from(*byte).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

/// A 128-bit FNV-1a hash: enough to tell a million names apart.
fn hash128(text: &str) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALAIN: &str = "alain@contoso.com";
    const GUID: &str = "9832AAD8-E4FE-496B-A604-95C6EF01AE75";

    type Keyed = (u64, Result<MemberKey, String>);

    fn read(text: &[u8]) -> Result<Vec<Keyed>, MemberListError> {
        let list = MemberList::from_reader(
            Path::new("members.csv"),
            Box::new(std::io::Cursor::new(text.to_vec())),
        )?;
        list.map(|row| row.map(|row| (row.line, row.key))).collect()
    }

    fn keys(text: &str) -> Vec<String> {
        read(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(_, key)| key.unwrap().as_str().to_owned())
            .collect()
    }

    #[test]
    fn reads_the_admin_center_template() {
        let text = format!("{TEMPLATE_HEADER}\nalain@contoso.com\nisabella@contoso.com\n");
        assert_eq!(keys(&text), [ALAIN, "isabella@contoso.com"]);
    }

    #[test]
    fn skips_the_version_and_example_rows() {
        let text = format!("version:v1.0\n{TEMPLATE_HEADER}\nExample: {GUID}\n{GUID}\n");
        let rows = read(text.as_bytes()).unwrap();
        assert_eq!(
            rows,
            [(4, Ok(MemberKey::ObjectId(GUID.to_ascii_lowercase())))]
        );
    }

    #[test]
    fn reads_single_id_columns_and_downloads() {
        assert_eq!(
            keys(&format!("ObjectId\n{GUID}\n")),
            [GUID.to_ascii_lowercase()]
        );
        assert_eq!(keys(&format!("id\r\n{ALAIN}\r\n")), [ALAIN]);
        let download = format!(
            "Group ID,Group name,Object ID,User principal name,Display name,Member type\n1,eng,{GUID},{ALAIN},Alain,User\n"
        );
        assert_eq!(keys(&download), [GUID.to_ascii_lowercase()]);
    }

    #[test]
    fn reads_a_list_without_header() {
        assert_eq!(
            keys(&format!("{ALAIN}\n{GUID}\n")),
            [ALAIN.to_owned(), GUID.to_ascii_lowercase()]
        );
    }

    #[test]
    fn tolerates_bom_blank_lines_and_spaces() {
        let text = format!("\u{feff}{TEMPLATE_HEADER}\r\n\r\n  {ALAIN}  \r\n,\r\n\"{GUID}\"\r\n");
        assert_eq!(keys(&text), [ALAIN.to_owned(), GUID.to_ascii_lowercase()]);
    }

    #[test]
    fn marks_values_that_name_no_member() {
        let rows = read(format!("{TEMPLATE_HEADER}\nnot-an-id\n{ALAIN}\n").as_bytes()).unwrap();
        assert_eq!(
            rows[0],
            (
                2,
                Err("`not-an-id` is neither an object id nor a user principal name".to_owned())
            )
        );
        assert_eq!(rows[1].1, Ok(MemberKey::Upn(ALAIN.to_owned())));
    }

    #[test]
    fn utf16_and_semicolon_files_are_named_with_how_to_save_them() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("id\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let error = read(&utf16).unwrap_err();
        assert!(matches!(error, MemberListError::Utf16 { .. }), "{error}");
        assert!(error.to_string().contains("is UTF-16 text"), "{error}");
        let error =
            read(format!("userPrincipalName;displayName\n{ALAIN};Alain\n").as_bytes()).unwrap_err();
        assert!(
            matches!(error, MemberListError::Semicolons { line: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn refuses_unusable_files() {
        assert!(matches!(
            read(b"").unwrap_err(),
            MemberListError::Empty { .. }
        ));
        assert!(matches!(
            read(b"\n\n").unwrap_err(),
            MemberListError::Empty { .. }
        ));
        let wrong = read(b"Name,Department\nAlain,Sales\n").unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "`members.csv`, line 1: the header `Name,Department` names no member column"
        );
        let latin1 = read(b"ObjectId\nal\xe9in@contoso.com\n").unwrap_err();
        assert_eq!(
            latin1.to_string(),
            "`members.csv`, line 2: the text is not UTF-8: save the file as \"CSV UTF-8 (Comma delimited)\""
        );
    }

    #[test]
    fn quoted_values_may_run_over_lines_but_members_may_not() {
        let text = format!(
            "Object ID,Display name\n{GUID},\"Alain\nDupont\"\n\"{ALAIN}\nisabella@contoso.com\"\n"
        );
        let rows = read(text.as_bytes()).unwrap();
        assert_eq!(
            rows[0],
            (2, Ok(MemberKey::ObjectId(GUID.to_ascii_lowercase())))
        );
        assert_eq!(
            rows[1],
            (
                4,
                Err("`alain@contoso.com\\nisabella@contoso.com` runs over several lines; a closing quote is probably missing".to_owned())
            )
        );
    }

    #[test]
    fn a_header_with_two_member_columns_is_refused() {
        let error =
            read(format!("id,memberObjectIdOrUpn\n{GUID},{ALAIN}\n").as_bytes()).unwrap_err();
        assert!(
            matches!(error, MemberListError::TwoMemberColumns { line: 1, .. }),
            "{error}"
        );
        assert!(read(format!("ObjectId,id\n{GUID},{GUID}\n").as_bytes()).is_err());
    }

    #[test]
    fn excel_padding_columns_are_ignored() {
        let text = format!(
            "version:v1.0,,\n{TEMPLATE_HEADER},note,\nExample: {GUID},,\n{ALAIN},on leave,\n"
        );
        assert_eq!(keys(&text), [ALAIN]);
        assert_eq!(
            keys(&format!("{ALAIN},\n{GUID},\n")),
            [ALAIN.to_owned(), GUID.to_ascii_lowercase()]
        );
    }

    #[test]
    fn long_values_and_rows_are_refused_without_echoing_them() {
        let long = "a".repeat(MAX_FIELD + 1);
        let error = read(format!("ObjectId\n{ALAIN}\n{long}\n").as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`members.csv`, line 3: a value is longer than {MAX_FIELD} bytes")
        );
        let unclosed = format!("ObjectId\n\"{ALAIN}\n{}", "x\n".repeat(2_000_000));
        let error = read(unclosed.as_bytes()).unwrap_err();
        assert!(
            matches!(error, MemberListError::TooLong { line: 2, .. }),
            "{error}"
        );
        let header = read(format!("{},x\n", "h".repeat(500)).as_bytes()).unwrap_err();
        assert!(header.to_string().len() < 200, "{header}");
        let value = classify(&"b".repeat(1000)).unwrap_err();
        assert!(value.len() < 200, "{value}");
    }

    #[test]
    fn identities_ignore_case() {
        let upper = classify("ALAIN@Contoso.com").unwrap();
        let lower = classify("alain@contoso.com").unwrap();
        assert_eq!(upper.identity(), lower.identity());
        let guid = classify(GUID).unwrap();
        assert_eq!(
            guid.identity(),
            classify(&GUID.to_ascii_lowercase()).unwrap().identity()
        );
        assert_ne!(guid.identity(), lower.identity());
    }

    #[test]
    fn recognises_guest_and_dollar_upns() {
        assert!(classify("ines_fabrikam.example#EXT#@contoso.example").is_ok());
        assert!(classify("$admin@contoso.example").is_ok());
        assert!(classify("two words@contoso.example").is_err());
        assert!(classify("nobody@localhost").is_err());
    }
}
