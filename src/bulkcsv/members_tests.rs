//! Tests of reading member lists in every shape administrators bring.
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
    let error = read(format!("id,memberObjectIdOrUpn\n{GUID},{ALAIN}\n").as_bytes()).unwrap_err();
    assert!(
        matches!(error, MemberListError::TwoMemberColumns { line: 1, .. }),
        "{error}"
    );
    assert!(read(format!("ObjectId,id\n{GUID},{GUID}\n").as_bytes()).is_err());
}

#[test]
fn excel_padding_columns_are_ignored() {
    let text =
        format!("version:v1.0,,\n{TEMPLATE_HEADER},note,\nExample: {GUID},,\n{ALAIN},on leave,\n");
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

#[test]
fn line_numbers_are_the_lines_an_editor_shows() {
    let lines = |text: &[u8]| -> Vec<u64> {
        read(text)
            .unwrap()
            .into_iter()
            .map(|(line, _)| line)
            .collect()
    };
    // CRLF line ends, as Excel saves them, and blank lines between rows.
    assert_eq!(
        lines(format!("id\r\n{ALAIN}\r\n{GUID}\r\n\r\nb@c.d\r\n").as_bytes()),
        [2, 3, 5]
    );
    assert_eq!(
        lines(format!("id\n{ALAIN}\n\n\n{GUID}\n").as_bytes()),
        [2, 5]
    );
    // A value over two lines: the next row is on the line after it.
    assert_eq!(
        lines(format!("id,note\n{ALAIN},\"a\nb\"\n{GUID},x\n").as_bytes()),
        [2, 4]
    );
    // With a byte order mark and without a header.
    assert_eq!(
        lines(format!("\u{feff}{ALAIN}\r\n{GUID}\r\n").as_bytes()),
        [1, 2]
    );
}

#[test]
fn a_group_row_without_its_group_names_its_line() {
    let mut list = MemberList::from_reader(
        Path::new("access.csv"),
        Box::new(std::io::Cursor::new(
            format!("group,member\r\neng,{ALAIN}\r\n\r\n ,{GUID}\r\n").into_bytes(),
        )),
    )
    .unwrap();
    list.by_row_group().unwrap();
    assert_eq!(list.next_row().unwrap().unwrap().line, 2);
    match list.next_row() {
        Err(MemberListError::NoGroup { line, .. }) => assert_eq!(line, 4),
        other => panic!("{other:?}"),
    }
}
