//! Percent-encoding for Graph URLs, both ways: the client encodes `$filter`
//! values and user principal names (`#` of guest UPNs as `%23`), the emulator
//! decodes paths and query strings as Graph does.

use std::fmt::Write as _;

/// Encodes a query value or a path segment: everything but unreserved
/// characters and the few that Graph's own examples leave readable.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b'@'
            | b'\''
            | b'('
            | b')'
            | b','
            | b':' => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space`.
/// Malformed escapes stay as written.
pub fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let escaped = std::str::from_utf8(&bytes[index + 1..index + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                if let Some(value) = escaped {
                    out.push(value);
                    index += 3;
                } else {
                    out.push(b'%');
                    index += 1;
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            other => {
                out.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded pairs.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key, true), decode(value, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_urls_cannot_carry() {
        assert_eq!(
            encode("AdeleV_adatum.com#EXT#@contoso.com"),
            "AdeleV_adatum.com%23EXT%23@contoso.com"
        );
        assert_eq!(
            encode("startswith(displayName,'a b')"),
            "startswith(displayName,'a%20b')"
        );
    }

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(decode("a%23b+c", true), "a#b c");
        assert_eq!(decode("a+b", false), "a+b");
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%zz", false), "%zz");
        assert_eq!(
            query_pairs("%24filter=groupTypes/any(c:c+eq+'Unified')&$top=5"),
            vec![
                (
                    "$filter".to_owned(),
                    "groupTypes/any(c:c eq 'Unified')".to_owned()
                ),
                ("$top".to_owned(), "5".to_owned())
            ]
        );
    }
}
