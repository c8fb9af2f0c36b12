//! The `$filter` language as the emulator understands it: the subset of OData
//! that directory queries use. Comparisons (`eq`, `ne`, `ge`, `le`, `gt`, `lt`),
//! `in`, `startswith` and `endswith`, `any` over a collection (`groupTypes/any(c:c eq 'Unified')`),
//! `not`, `and`, `or` and parentheses, over properties or paths into complex
//! properties (`extensionAttributes/extensionAttribute1`). Names of functions
//! and operators ignore case; text compares without regard to case, as the
//! directory does.

use serde_json::Value as Json;

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        property: String,
        op: Op,
        value: Json,
    },
    In {
        property: String,
        values: Vec<Json>,
    },
    StartsWith {
        property: String,
        prefix: String,
    },
    EndsWith {
        property: String,
        suffix: String,
    },
    Any {
        property: String,
        value: Json,
    },
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

/// Why a filter is not understood, in Graph's words where it has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter clause: {0}")]
pub struct FilterError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

fn tokens(source: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            ':' => tokens.push(Token::Colon),
            '/' => tokens.push(Token::Slash),
            '\'' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => {
                            return Err(FilterError("a string literal is not closed".to_owned()));
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            c => {
                let mut word = c.to_string();
                while let Some(next) = chars.peek().copied() {
                    if next.is_whitespace() || matches!(next, '(' | ')' | ',' | ':' | '/' | '\'') {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                // A bare time (`2026-11-20T00:00:00Z`) contains colons: keep it whole.
                while chars.peek() == Some(&':')
                    && word.contains('T')
                    && word.starts_with(|c: char| c.is_ascii_digit())
                {
                    word.push(chars.next().unwrap_or(':'));
                    while let Some(next) = chars.peek().copied() {
                        if next.is_whitespace() || matches!(next, '(' | ')' | ',' | '\'' | ':') {
                            break;
                        }
                        word.push(next);
                        chars.next();
                    }
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Parses a `$filter` value.
pub fn parse(source: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser {
        tokens: tokens(source)?,
        at: 0,
        depth: 0,
    };
    let filter = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(FilterError(format!(
            "unexpected text after the expression in '{source}'"
        )));
    }
    Ok(filter)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses and `not`s open around the current token.
    depth: usize,
}

/// The most parentheses and `not`s a filter may nest: deeper input is
/// refused rather than recursed into.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(word)) => Some(word.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, wanted: &Token) -> Result<(), FilterError> {
        match self.next() {
            Some(token) if &token == wanted => Ok(()),
            other => Err(FilterError(format!("expected {wanted:?}, found {other:?}"))),
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let nests = self.peek_word().as_deref() == Some("not")
            || self.tokens.get(self.at) == Some(&Token::Open);
        if !nests {
            return self.primary();
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError(format!(
                "the expression nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let nested = if self.peek_word().as_deref() == Some("not") {
            self.at += 1;
            self.unary().map(|inner| Filter::Not(Box::new(inner)))
        } else {
            self.at += 1;
            let inner = self.or();
            inner.and_then(|inner| self.expect(&Token::Close).map(|()| inner))
        };
        self.depth -= 1;
        nested
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        let Some(Token::Word(word)) = self.next() else {
            return Err(FilterError("expected a property or a function".to_owned()));
        };
        match word.to_ascii_lowercase().as_str() {
            "startswith" | "endswith" => {
                self.expect(&Token::Open)?;
                let property = self.property()?;
                self.expect(&Token::Comma)?;
                let Some(Token::Text(text)) = self.next() else {
                    return Err(FilterError(format!("{word} needs a string")));
                };
                self.expect(&Token::Close)?;
                Ok(if word.eq_ignore_ascii_case("startswith") {
                    Filter::StartsWith {
                        property,
                        prefix: text,
                    }
                } else {
                    Filter::EndsWith {
                        property,
                        suffix: text,
                    }
                })
            }
            _ => self.after_property(word),
        }
    }

    fn property(&mut self) -> Result<String, FilterError> {
        let mut path = match self.next() {
            Some(Token::Word(word)) => word,
            other => return Err(FilterError(format!("expected a property, found {other:?}"))),
        };
        while self.tokens.get(self.at) == Some(&Token::Slash) {
            self.at += 1;
            path.push('/');
            path.push_str(&self.property()?);
        }
        Ok(path)
    }

    fn after_property(&mut self, mut property: String) -> Result<Filter, FilterError> {
        while self.tokens.get(self.at) == Some(&Token::Slash) {
            self.at += 1;
            match self.tokens.get(self.at) {
                Some(Token::Word(word)) if word.eq_ignore_ascii_case("any") => {
                    return self.any(property);
                }
                Some(Token::Word(word)) => {
                    property.push('/');
                    property.push_str(word);
                    self.at += 1;
                }
                other => {
                    return Err(FilterError(format!(
                        "expected a property after '/', found {other:?}"
                    )));
                }
            }
        }
        let operator = self
            .peek_word()
            .ok_or_else(|| FilterError(format!("expected an operator after {property}")))?;
        self.at += 1;
        if operator == "in" {
            self.expect(&Token::Open)?;
            let mut values = vec![self.value()?];
            while self.tokens.get(self.at) == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.value()?);
            }
            self.expect(&Token::Close)?;
            return Ok(Filter::In { property, values });
        }
        let op = match operator.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "ge" => Op::Ge,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "lt" => Op::Lt,
            other => return Err(FilterError(format!("unknown operator '{other}'"))),
        };
        Ok(Filter::Compare {
            property,
            op,
            value: self.value()?,
        })
    }

    /// `groupTypes/any(c:c eq 'Unified')`.
    fn any(&mut self, property: String) -> Result<Filter, FilterError> {
        if self.peek_word().as_deref() != Some("any") {
            return Err(FilterError("only any() lambdas are supported".to_owned()));
        }
        self.at += 1;
        self.expect(&Token::Open)?;
        let variable = self.property()?;
        self.expect(&Token::Colon)?;
        let again = self.property()?;
        if again != variable || self.peek_word().as_deref() != Some("eq") {
            return Err(FilterError(
                "an any() lambda compares its variable with eq".to_owned(),
            ));
        }
        self.at += 1;
        let value = self.value()?;
        self.expect(&Token::Close)?;
        Ok(Filter::Any { property, value })
    }

    fn value(&mut self) -> Result<Json, FilterError> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Json::String(text)),
            Some(Token::Word(word)) => Ok(match word.to_ascii_lowercase().as_str() {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                "null" => Json::Null,
                _ => word.parse::<i64>().map_or(Json::String(word), Json::from),
            }),
            other => Err(FilterError(format!("expected a value, found {other:?}"))),
        }
    }
}

/// Whether Graph evaluates the filter only with advanced query parameters
/// (`ConsistencyLevel: eventual` and `$count=true`): `ne`, `not`, `endsWith`
/// and comparisons with `null` are advanced.
pub fn is_advanced(filter: &Filter) -> bool {
    match filter {
        Filter::Compare { op, value, .. } => *op == Op::Ne || value.is_null(),
        Filter::EndsWith { .. } | Filter::Not(_) => true,
        Filter::In { .. } | Filter::StartsWith { .. } | Filter::Any { .. } => false,
        Filter::And(left, right) | Filter::Or(left, right) => {
            is_advanced(left) || is_advanced(right)
        }
    }
}

/// The properties that Graph filters on only with advanced query parameters
/// (Microsoft Graph's "advanced query capabilities" tables), by entity set.
const ADVANCED_ONLY: [(&str, &[&str]); 2] = [
    (
        "groups",
        &[
            "description",
            "createdDateTime",
            "expirationDateTime",
            "onPremisesSamAccountName",
            "preferredLanguage",
        ],
    ),
    (
        "devices",
        &[
            "registrationDateTime",
            "extensionAttributes",
            "deviceCategory",
            "deviceOwnership",
            "enrollmentProfileName",
            "isRooted",
            "managementType",
            "manufacturer",
            "model",
        ],
    ),
];

/// The first property of `filter` that Graph filters `entity` on only with
/// advanced query parameters.
pub fn advanced_property(filter: &Filter, entity: &str) -> Option<String> {
    let rules = ADVANCED_ONLY
        .iter()
        .find(|(name, _)| *name == entity)
        .map(|(_, properties)| *properties)?;
    let advanced = |property: &str| {
        let root = property.split('/').next().unwrap_or(property);
        rules
            .iter()
            .any(|rule| rule.eq_ignore_ascii_case(root))
            .then(|| root.to_owned())
    };
    match filter {
        Filter::Compare { property, .. }
        | Filter::In { property, .. }
        | Filter::StartsWith { property, .. }
        | Filter::EndsWith { property, .. }
        | Filter::Any { property, .. } => advanced(property),
        Filter::Not(inner) => advanced_property(inner, entity),
        Filter::And(left, right) | Filter::Or(left, right) => {
            advanced_property(left, entity).or_else(|| advanced_property(right, entity))
        }
    }
}

/// The value at a property path of an object (`a/b`: property `b` of `a`).
fn at<'a>(object: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('/').try_fold(object, |value, key| {
        value.as_object().and_then(|fields| {
            fields.get(key).or_else(|| {
                fields
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(key))
                    .map(|(_, value)| value)
            })
        })
    })
}

/// Whether an object (with Graph property names) meets the filter.
pub fn matches(filter: &Filter, object: &Json) -> bool {
    let text = |value: &Json| value.as_str().map(str::to_lowercase);
    match filter {
        Filter::Compare {
            property,
            op,
            value,
        } => compare(at(object, property).unwrap_or(&Json::Null), *op, value),
        Filter::In { property, values } => {
            let actual = at(object, property).unwrap_or(&Json::Null);
            values.iter().any(|value| compare(actual, Op::Eq, value))
        }
        Filter::StartsWith { property, prefix } => at(object, property)
            .and_then(text)
            .is_some_and(|actual| actual.starts_with(&prefix.to_lowercase())),
        Filter::EndsWith { property, suffix } => at(object, property)
            .and_then(text)
            .is_some_and(|actual| actual.ends_with(&suffix.to_lowercase())),
        Filter::Any { property, value } => at(object, property)
            .and_then(Json::as_array)
            .is_some_and(|items| items.iter().any(|item| compare(item, Op::Eq, value))),
        Filter::Not(inner) => !matches(inner, object),
        Filter::And(left, right) => matches(left, object) && matches(right, object),
        Filter::Or(left, right) => matches(left, object) || matches(right, object),
    }
}

fn compare(actual: &Json, op: Op, value: &Json) -> bool {
    use std::cmp::Ordering;
    let ordering = match (actual, value) {
        (Json::String(a), Json::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Json::Bool(a), Json::Bool(b)) => Some(a.cmp(b)),
        (Json::Number(a), Json::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Json::Null, Json::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ordering) {
        (Op::Eq, Some(order)) => order == Ordering::Equal,
        (Op::Ne, Some(order)) => order != Ordering::Equal,
        (Op::Ne, None) => true,
        (Op::Ge, Some(order)) => order != Ordering::Less,
        (Op::Le, Some(order)) => order != Ordering::Greater,
        (Op::Gt, Some(order)) => order == Ordering::Greater,
        (Op::Lt, Some(order)) => order == Ordering::Less,
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group() -> Json {
        json!({
            "id": "4c5f8c1e-2b7d-4b8e-9a61-0c2d3e4f5a6b", "displayName": "eng-Platform", "mailEnabled": false,
            "securityEnabled": true, "groupTypes": ["DynamicMembership"], "onPremisesSyncEnabled": null
        })
    }

    #[test]
    fn evaluates_what_the_graph_client_sends() {
        for (source, expected) in [
            (
                "startswith(displayName,'eng-') and mailEnabled eq false and securityEnabled eq true",
                true,
            ),
            ("startsWith(displayName, 'ENG-')", true),
            ("displayName eq 'ENG-platform'", true),
            ("displayName in ('a','eng-platform')", true),
            ("groupTypes/any(c:c eq 'Unified')", false),
            ("groupTypes/any(c:c eq 'DynamicMembership')", true),
            (
                "NOT(groupTypes/any(s:s eq 'Unified')) and id in ('4c5f8c1e-2b7d-4b8e-9a61-0c2d3e4f5a6b')",
                true,
            ),
            ("mailEnabled eq true or onPremisesSyncEnabled eq null", true),
            ("endswith(displayName,'form')", true),
        ] {
            assert_eq!(
                matches(&parse(source).unwrap(), &group()),
                expected,
                "{source}"
            );
        }
    }

    #[test]
    fn compares_times_and_doubled_quotes() {
        let device = json!({"approximateLastSignInDateTime": "2026-11-21T08:00:00Z", "displayName": "O'Brien"});
        let recent = parse("approximateLastSignInDateTime ge 2026-11-20T00:00:00Z").unwrap();
        assert!(matches(&recent, &device));
        assert!(matches(
            &parse("displayName eq 'O''Brien'").unwrap(),
            &device
        ));
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for source in [
            "displayName has 'x'",
            "startswith(displayName)",
            "displayName eq 'open",
            "a eq 'b' c",
            "groupTypes/all(c:c eq 'x')",
            &format!("{}displayName eq 'a'{}", "(".repeat(1000), ")".repeat(1000)),
            &format!("{}displayName eq 'a'", "not ".repeat(3000)),
        ] {
            assert!(parse(source).is_err(), "{source}");
        }
    }
}
