//! Reading member lists for `importMembers` and `removeMembers`.
//!
//! Administrators bring lists in many shapes, and all of them are accepted:
//! the Entra admin center's import template (header `Member object ID or user
//! principal name [memberObjectIdOrUpn] Required`, with or without the
//! `version:v1.0` row above it and the `Example:` row below it); a single
//! `ObjectId` or `id` column; a bulkops members download (its `Object ID`
//! column); or a plain list without header. Values are object ids or user
//! principal names. A UTF-8 byte order mark, CRLF line ends, blank lines and
//! spaces around values are tolerated. The file is read as a stream.

use std::io::Read;
use std::path::{Path, PathBuf};

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
    #[error("`{}`, line {line}: the text is not UTF-8", path.display())]
    #[diagnostic(
        code(bulkops::csv::encoding),
        help("save the file as UTF-8 (\"CSV UTF-8\" in Excel)")
    )]
    NotUtf8 { path: PathBuf, line: u64 },
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
    reader: csv::Reader<Box<dyn Read + Send>>,
    column: usize,
    /// The header row as written, or `None` for a list without header.
    header: Option<Vec<String>>,
    /// A first data row read while looking for the header.
    pending: Option<csv::ByteRecord>,
    skip_example: bool,
    record: csv::ByteRecord,
}

impl MemberList {
    /// Opens a member list file and reads its header.
    pub fn open(path: &Path) -> Result<Self, MemberListError> {
        let file = std::fs::File::open(path).map_err(|source| MemberListError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let length = file.metadata().map_or(1, |m| m.len());
        if length == 0 {
            return Err(MemberListError::Empty {
                path: path.to_path_buf(),
            });
        }
        Self::from_reader(
            path,
            Box::new(std::io::BufReader::with_capacity(1 << 16, file)),
        )
    }

    /// Reads a member list from any reader; `path` names it in messages.
    pub fn from_reader(path: &Path, reader: Box<dyn Read + Send>) -> Result<Self, MemberListError> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let mut list = Self {
            path: path.to_path_buf(),
            reader,
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
        if first.fields.len() == 1 && first.fields[0].to_ascii_lowercase().starts_with("version:") {
            first = self
                .next_non_blank()?
                .ok_or_else(|| MemberListError::Empty {
                    path: self.path.clone(),
                })?;
        }
        if let Some(column) = header_column(&first.fields) {
            self.column = column;
            self.skip_example = true;
            self.header = Some(first.fields);
            return Ok(());
        }
        if first.fields.len() == 1 && classify(&first.fields[0]).is_ok() {
            self.pending = Some(first.record);
            return Ok(());
        }
        Err(MemberListError::WrongHeader {
            path: self.path.clone(),
            line: first.line,
            found: first.fields.join(","),
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
            let line = self.record.position().map_or(0, csv::Position::line);
            let fields = decode(&self.record, &self.path, line)?;
            if fields.iter().any(|field| field.contains(['\n', '\r'])) {
                return Err(MemberListError::Malformed {
                    path: self.path.clone(),
                    line,
                    message: "a quoted value runs over several lines; a closing quote is probably missing".to_owned(),
                });
            }
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
            let key = classify(value);
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
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| MemberListError::NotUtf8 {
                    path: path.to_path_buf(),
                    line,
                })
        })
        .collect()
}

/// The index of the member column in a header row, if it is one.
fn header_column(fields: &[String]) -> Option<usize> {
    let normalized: Vec<String> = fields
        .iter()
        .map(|field| field.trim().to_ascii_lowercase())
        .collect();
    if let Some(index) = normalized
        .iter()
        .position(|field| field.contains("[memberobjectidorupn]"))
    {
        return Some(index);
    }
    ID_COLUMNS
        .iter()
        .find_map(|name| normalized.iter().position(|field| field == name))
}

/// Reads a value as an object id or a user principal name.
pub fn classify(value: &str) -> Result<MemberKey, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("the row has no member".to_owned());
    }
    if parse_guid(value).is_some() {
        return Ok(MemberKey::ObjectId(value.to_ascii_lowercase()));
    }
    if is_upn(value) {
        return Ok(MemberKey::Upn(value.to_owned()));
    }
    Err(format!(
        "`{value}` is neither an object id nor a user principal name"
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
        let unclosed = read(b"ObjectId\n\"alain@contoso.com\nisabella@contoso.com\n").unwrap_err();
        assert_eq!(
            unclosed.to_string(),
            "`members.csv`, line 2: a quoted value runs over several lines; a closing quote is probably missing"
        );
        let latin1 = read(b"ObjectId\nal\xe9in@contoso.com\n").unwrap_err();
        assert_eq!(
            latin1.to_string(),
            "`members.csv`, line 2: the text is not UTF-8"
        );
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
