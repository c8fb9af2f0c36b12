//! Reading member lists for `importMembers` and `removeMembers`.
//!
//! Administrators bring lists in many shapes, and all of them are accepted:
//! the Entra admin center's import template (header `Member object ID or user
//! principal name [memberObjectIdOrUpn] Required`, with or without the
//! `version:v1.0` row above it and the `Example:` row below it); a single
//! `ObjectId` or `id` column; a bulkops members download (its `Object ID`
//! column); or a plain list without header. Values are object ids or user
//! principal names. A list for several groups adds a group column (see
//! [`GroupBy`]): each row then names its group as well as its member. A UTF-8 byte order mark, CRLF line ends, blank lines,
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
const ID_COLUMNS: [&str; 8] = [
    "memberobjectidorupn",
    "member object id or user principal name",
    "objectid",
    "object id",
    "id",
    "userprincipalname",
    "member",
    "memberid",
];

/// Header cells that name a group column, compared without case and spaces,
/// and how their values name a group.
const GROUP_COLUMNS: [(&str, GroupBy); 7] = [
    ("group", GroupBy::Any),
    ("groupid", GroupBy::Id),
    ("groupobjectid", GroupBy::Id),
    ("groupdisplayname", GroupBy::DisplayName),
    ("groupname", GroupBy::DisplayName),
    ("groupmailnickname", GroupBy::MailNickname),
    ("groupmailalias", GroupBy::MailNickname),
];

/// How the values of a list's group column name their groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// `groupId`: object ids.
    Id,
    /// `groupDisplayName`: display names, each naming exactly one group.
    DisplayName,
    /// `groupMailNickname`: mail nicknames.
    MailNickname,
    /// `group`: an object id, or else a display name or mail nickname.
    Any,
}

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
    #[error("`{}`, line {line}: the header `{found}` names more than one group column", path.display())]
    #[diagnostic(
        code(bulkops::csv::two_group_columns),
        help(
            "keep one group column: `groupId`, `groupDisplayName`, `groupMailNickname`, or `group` (an object id, display name or mail nickname)"
        )
    )]
    TwoGroupColumns {
        path: PathBuf,
        line: u64,
        found: String,
    },
    #[error("`{}`, line {line}: the row names no group in its `{column}` column", path.display())]
    #[diagnostic(
        code(bulkops::csv::no_group),
        help(
            "every row of a list for several groups names its group; fill in the cell or remove the row"
        )
    )]
    NoGroup {
        path: PathBuf,
        line: u64,
        column: String,
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
    /// The row's group, as written in the group column of a list for several
    /// groups (trimmed).
    pub group: Option<String>,
}

/// A member list being read, row by row.
pub struct MemberList {
    path: PathBuf,
    reader: csv::Reader<Bounded<Box<dyn Read + Send>>>,
    /// Bytes read since the last complete row, shared with the reader.
    since_row: Arc<AtomicU64>,
    /// Where the lines of the file begin, shared with the reader.
    lines: Arc<std::sync::Mutex<Lines>>,
    /// The line the last complete row started on.
    last_line: u64,
    column: usize,
    /// The group column the header names, if any (or why it is unclear).
    group_header: Option<Result<(usize, GroupBy), String>>,
    /// The group column in use: each row names its group there.
    group_column: Option<(usize, GroupBy)>,
    /// Only rows whose group value is one of these are returned.
    only_groups: Option<Arc<std::collections::HashSet<String>>>,
    /// The line of the header row.
    header_line: u64,
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
    lines: Arc<std::sync::Mutex<Lines>>,
}

/// Line numbers as an editor shows them (every `\n` ends a line, so CRLF
/// files and blank lines count right). The CSV reader's own positions point
/// at the terminator before a record, and before the blank lines it skips;
/// so a record's line is that of the first byte with content at or after its
/// position. Kept: the line ends the reader has seen and the CSV reader has
/// not passed yet, each with the last byte of content before it.
#[derive(Default)]
struct Lines {
    /// Bytes that went through the reader.
    seen: u64,
    /// Offsets of `\n`s not yet counted, each with the offset of the last
    /// byte before it that is not a line end (`\r`, `\n`).
    ends: std::collections::VecDeque<(u64, Option<u64>)>,
    /// The last byte seen that is not a line end.
    last_content: Option<u64>,
    /// Line ends before the last offset asked about.
    counted: u64,
}

impl Lines {
    fn saw(&mut self, bytes: &[u8]) {
        for (index, byte) in bytes.iter().enumerate() {
            let offset = self.seen + index as u64;
            match byte {
                b'\n' => self.ends.push_back((offset, self.last_content)),
                b'\r' => {}
                _ => self.last_content = Some(offset),
            }
        }
        self.seen += bytes.len() as u64;
    }

    /// The 1-based line of the first content at or after `offset`; offsets
    /// are asked in order.
    fn line_at(&mut self, mut offset: u64) -> u64 {
        while let Some(&(end, content)) = self.ends.front() {
            let before = end < offset;
            let nothing_from_offset = content.is_none_or(|last| last < offset);
            if !before && !nothing_from_offset {
                break;
            }
            self.ends.pop_front();
            self.counted += 1;
            if !before {
                offset = end + 1;
            }
        }
        self.counted + 1
    }
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
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .saw(&buffer[..read]);
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
        let lines = Arc::new(std::sync::Mutex::new(Lines::default()));
        let bounded = Bounded {
            inner: reader,
            since_row: Arc::clone(&since_row),
            lines: Arc::clone(&lines),
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
            lines,
            last_line: 0,
            column: 0,
            group_header: None,
            group_column: None,
            only_groups: None,
            header_line: 0,
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

    /// Reads the list as a list for several groups: each row names its
    /// group in the group column, which is returned (its header cell and how
    /// its values name groups); `None` when the header names no group column.
    pub fn by_row_group(&mut self) -> Result<Option<(&str, GroupBy)>, MemberListError> {
        match self.group_header.clone() {
            None => Ok(None),
            Some(Err(found)) => Err(MemberListError::TwoGroupColumns {
                path: self.path.clone(),
                line: self.header_line,
                found,
            }),
            Some(Ok((index, by))) => {
                self.group_column = Some((index, by));
                let header = self.header.as_ref().map_or("", |h| h[index].trim());
                Ok(Some((header, by)))
            }
        }
    }

    /// The header cell of a group column the list has, whether or not it is
    /// read as a list for several groups.
    pub fn group_column_name(&self) -> Option<&str> {
        match &self.group_header {
            Some(Ok((index, _))) => self.header.as_ref().map(|header| header[*index].trim()),
            _ => None,
        }
    }

    /// Reads the list as a list for several groups, and returns only the
    /// rows whose group is one of `groups`.
    pub fn only_groups(
        &mut self,
        groups: Arc<std::collections::HashSet<String>>,
    ) -> Result<(), MemberListError> {
        self.by_row_group()?;
        self.only_groups = Some(groups);
        Ok(())
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
                self.group_header = group_header(&first.fields);
                self.header_line = first.line;
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

    /// The line a CSV position starts on, as an editor counts lines.
    fn line_of(&self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return 0;
        };
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .line_at(position.byte())
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
            let line = self.line_of(self.record.position());
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
        let line = self.line_of(error.position());
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
                    let line = self.line_of(record.position());
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
            let group = self.group_of(&raw)?;
            if let (Some(only), Some(group)) = (&self.only_groups, &group)
                && !only.contains(group)
            {
                continue;
            }
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
                group,
            }));
        }
    }

    /// The group a row of a list for several groups names; a row that names
    /// none makes the list unusable (no job could take it).
    fn group_of(&self, raw: &RawRow) -> Result<Option<String>, MemberListError> {
        let Some((index, _)) = self.group_column else {
            return Ok(None);
        };
        let value = raw.fields.get(index).map_or("", |field| field.trim());
        if value.is_empty() {
            let column = self
                .header
                .as_ref()
                .map_or(String::new(), |header| header[index].trim().to_owned());
            return Err(MemberListError::NoGroup {
                path: self.path.clone(),
                line: raw.line,
                column,
            });
        }
        Ok(Some(value.to_owned()))
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

/// The group column of a header row: none, one, or (`Err`, the header
/// quoted) several that do not say which decides. With an object id column
/// beside name columns (a bulkops combined members download has `Group ID`
/// and `Group name`), the id decides.
fn group_header(fields: &[String]) -> Option<Result<(usize, GroupBy), String>> {
    let found: Vec<(usize, GroupBy)> = fields
        .iter()
        .enumerate()
        .filter_map(|(index, field)| {
            let name = field
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            GROUP_COLUMNS
                .iter()
                .find(|(cell, _)| *cell == name)
                .map(|(_, by)| (index, *by))
        })
        .collect();
    let ids: Vec<&(usize, GroupBy)> = found.iter().filter(|(_, by)| *by == GroupBy::Id).collect();
    match (found.as_slice(), ids.as_slice()) {
        ([], _) => None,
        ([one], _) => Some(Ok(*one)),
        (_, [id]) => Some(Ok(**id)),
        _ => Some(Err(quote(&fields.join(",")))),
    }
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
#[path = "members_tests.rs"]
mod tests;
