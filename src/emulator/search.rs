//! `$search` as Microsoft Graph's directory objects take it:
//! `"displayName:Video" OR "description:prod"`: clauses of `"property:text"`
//! in double quotes (`\"` and `\\` escaped), joined by `AND` and `OR` (`AND`
//! binding tighter), with parentheses. `displayName` and `description` are
//! tokenized — split at spaces, symbols, changes from lower to upper case and
//! between letters and digits — and every token of the text must begin a
//! token of the value, in any order, without regard to case; other
//! properties match when they start with the text.

use serde_json::Value as Json;

/// A parsed `$search` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Clause { property: String, text: String },
    And(Box<Search>, Box<Search>),
    Or(Box<Search>, Box<Search>),
}

/// Why a `$search` value is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Syntax error: {0}")]
pub struct SearchError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Clause(String, String),
    And,
    Or,
    Open,
    Close,
}

fn tokens(source: &str) -> Result<Vec<Token>, SearchError> {
    let mut tokens = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => text.push(chars.next().unwrap_or('\\')),
                        Some('"') => break,
                        Some(c) => text.push(c),
                        None => return Err(SearchError("a quoted clause is not closed".into())),
                    }
                }
                let (property, value) = text.split_once(':').ok_or_else(|| {
                    SearchError(format!("the clause \"{text}\" is not property:text"))
                })?;
                tokens.push(Token::Clause(property.trim().to_owned(), value.to_owned()));
            }
            c => {
                let mut word = c.to_string();
                while let Some(next) = chars.peek().copied() {
                    if next.is_whitespace() || matches!(next, '(' | ')' | '"') {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(match word.as_str() {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    _ => {
                        return Err(SearchError(format!(
                            "'{word}' is neither a quoted clause nor AND or OR"
                        )));
                    }
                });
            }
        }
    }
    Ok(tokens)
}

/// Parses a `$search` value.
pub fn parse(source: &str) -> Result<Search, SearchError> {
    let tokens = tokens(source)?;
    let mut at = 0;
    let search = or(&tokens, &mut at, 0)?;
    if at != tokens.len() {
        return Err(SearchError("unexpected text after the expression".into()));
    }
    Ok(search)
}

/// The most parentheses a search may nest: deeper input is refused rather
/// than recursed into.
const MAX_DEPTH: usize = 64;

fn or(tokens: &[Token], at: &mut usize, depth: usize) -> Result<Search, SearchError> {
    let mut left = and(tokens, at, depth)?;
    while tokens.get(*at) == Some(&Token::Or) {
        *at += 1;
        left = Search::Or(Box::new(left), Box::new(and(tokens, at, depth)?));
    }
    Ok(left)
}

fn and(tokens: &[Token], at: &mut usize, depth: usize) -> Result<Search, SearchError> {
    let mut left = primary(tokens, at, depth)?;
    while tokens.get(*at) == Some(&Token::And) {
        *at += 1;
        left = Search::And(Box::new(left), Box::new(primary(tokens, at, depth)?));
    }
    Ok(left)
}

fn primary(tokens: &[Token], at: &mut usize, depth: usize) -> Result<Search, SearchError> {
    let token = tokens.get(*at).cloned();
    *at += 1;
    match token {
        Some(Token::Clause(property, text)) => Ok(Search::Clause { property, text }),
        Some(Token::Open) if depth >= MAX_DEPTH => Err(SearchError(format!(
            "the expression nests deeper than {MAX_DEPTH} levels"
        ))),
        Some(Token::Open) => {
            let inner = or(tokens, at, depth + 1)?;
            if tokens.get(*at) != Some(&Token::Close) {
                return Err(SearchError("a parenthesis is not closed".into()));
            }
            *at += 1;
            Ok(inner)
        }
        _ => Err(SearchError("expected a quoted clause".into())),
    }
}

/// Whether an object meets the search.
pub fn matches(search: &Search, object: &Json) -> bool {
    match search {
        Search::Clause { property, text } => {
            let Some(value) = object
                .as_object()
                .and_then(|fields| {
                    fields
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(property))
                })
                .and_then(|(_, value)| value.as_str())
            else {
                return false;
            };
            if property.eq_ignore_ascii_case("displayName")
                || property.eq_ignore_ascii_case("description")
            {
                let words = words(value);
                let wanted = words_of(text);
                !wanted.is_empty()
                    && wanted
                        .iter()
                        .all(|want| words.iter().any(|word| word.starts_with(want.as_str())))
            } else {
                value.to_lowercase().starts_with(&text.to_lowercase())
            }
        }
        Search::And(left, right) => matches(left, object) && matches(right, object),
        Search::Or(left, right) => matches(left, object) || matches(right, object),
    }
}

/// The tokens of a value, lowercased, with the letters of words split by
/// symbols also joined (`hello.world` gives `hello`, `world`, `helloworld`).
fn words(value: &str) -> Vec<String> {
    let mut all = words_of(value);
    for part in value.split_whitespace() {
        let joined: String = part
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        if !joined.is_empty() && !all.contains(&joined) {
            all.push(joined);
        }
    }
    all
}

/// Splits at anything but letters and digits, at lower-to-upper case
/// changes, and between letters and digits.
fn words_of(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if !c.is_alphanumeric() {
            flush(&mut words, &mut current);
            previous = None;
            continue;
        }
        if let Some(before) = previous {
            let case_change = before.is_lowercase() && c.is_uppercase();
            let kind_change = before.is_ascii_digit() != c.is_ascii_digit();
            if case_change || kind_change {
                flush(&mut words, &mut current);
            }
        }
        current.extend(c.to_lowercase());
        previous = Some(c);
    }
    flush(&mut words, &mut current);
    words
}

fn flush(words: &mut Vec<String>, current: &mut String) {
    if !current.is_empty() {
        words.push(std::mem::take(current));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_tokens_as_the_docs_describe() {
        let group = json!({"displayName": "SFA Videos", "description": "prodSupport team 2", "mail": "sfa@contoso.com"});
        for (source, expected) in [
            ("\"displayName:Video\"", true),
            ("\"displayName:videos sfa\"", true),
            ("\"displayName:ideo\"", false),
            ("\"description:support\"", true),
            ("\"description:prod\" AND \"displayName:sfa\"", true),
            ("\"displayName:nope\" OR \"description:team\"", true),
            ("\"mail:sfa@\"", true),
            ("\"mail:contoso\"", false),
            (
                "(\"displayName:x\" OR \"displayName:sfa\") AND \"description:2\"",
                true,
            ),
        ] {
            assert_eq!(
                matches(&parse(source).unwrap(), &group),
                expected,
                "{source}"
            );
        }
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for source in [
            "displayName:x",
            "\"displayName:x",
            "\"x\"",
            "\"a:b\" and \"c:d\"",
            &format!("{}\"displayName:x\"{}", "(".repeat(1000), ")".repeat(1000)),
        ] {
            assert!(parse(source).is_err(), "{source}");
        }
    }
}
