//! A fast reader for the templates manifests almost always contain: text with
//! `{{path}}` and `{{helper path}}` expressions.
//!
//! Compiling with handlebars costs tens of microseconds per template, which adds
//! up in workflows with thousands of steps. This reader accepts only a strict
//! subset whose meaning in handlebars is beyond doubt, and declines everything
//! else (blocks, literals, escapes, whitespace control, odd braces), which then
//! goes through handlebars itself.

use std::ops::Range;

/// One piece of a simple template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece<'a> {
    /// Literal text.
    Text(&'a str),
    /// `{{path}}`, or `{{helper path}}` when `helper` is set; `range` covers
    /// the whole expression, braces included.
    Expression {
        helper: Option<&'a str>,
        path: &'a str,
        range: Range<usize>,
    },
}

/// Splits a template into pieces, or returns `None` when it is not simple.
pub(super) fn read(source: &str) -> Option<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = 0;
    while let Some(open) = source[rest..].find("{{") {
        let start = rest + open;
        push_text(&mut pieces, &source[rest..start])?;
        let close = start + 2 + source[start + 2..].find("}}")?;
        let (helper, path) = expression(&source[start + 2..close])?;
        pieces.push(Piece::Expression {
            helper,
            path,
            range: start..close + 2,
        });
        rest = close + 2;
    }
    push_text(&mut pieces, &source[rest..])?;
    Some(pieces)
}

/// Text is simple when handlebars would copy it unchanged.
fn push_text<'a>(pieces: &mut Vec<Piece<'a>>, text: &'a str) -> Option<()> {
    if text.contains(['{', '}', '\\']) {
        return None;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Some(())
}

/// The inside of `{{ }}`: a dotted path, optionally after a helper name.
fn expression(inside: &str) -> Option<(Option<&str>, &str)> {
    let words: Vec<&str> = inside.split(' ').filter(|word| !word.is_empty()).collect();
    match words.as_slice() {
        [path] if is_path(path) => Some((None, path)),
        // `date` takes a quoted format, which the full reader checks.
        [helper, path] if is_identifier(helper) && *helper != "date" && is_path(path) => {
            Some((Some(helper), path))
        }
        _ => None,
    }
}

fn is_path(text: &str) -> bool {
    text.split('.').all(is_identifier) && !matches!(text, "this" | "else")
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            text,
            "this" | "else" | "true" | "false" | "null" | "undefined"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_and_helper_calls() {
        let pieces = read("{{vars.out}}/{{ lower group.displayName }}.csv").unwrap();
        assert_eq!(
            pieces,
            [
                Piece::Expression {
                    helper: None,
                    path: "vars.out",
                    range: 0..12
                },
                Piece::Text("/"),
                Piece::Expression {
                    helper: Some("lower"),
                    path: "group.displayName",
                    range: 13..42
                },
                Piece::Text(".csv"),
            ]
        );
        assert_eq!(read("plain.csv").unwrap(), [Piece::Text("plain.csv")]);
    }

    #[test]
    fn declines_everything_else() {
        for source in [
            "{{#if run.id}}x{{/if}}",
            "{{{run.id}}}",
            "{{~run.id}}",
            "{{run.id",
            "a}}b",
            "\\{{run.id}}",
            "{{lower \"x\"}}",
            "{{this}}",
            "{{../run.id}}",
            "{{run.[id]}}",
            "{{a b c}}",
            "{{@index}}",
            "{{> partial}}",
            "{{! comment}}",
        ] {
            assert_eq!(read(source), None, "{source}");
        }
    }
}
