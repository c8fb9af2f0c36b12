//! Rendering templates when a step runs: strict Handlebars (an unknown variable
//! is an error, never an empty string), no HTML escaping, the `lower` and
//! `upper` helpers, and values from the directory made safe for file names.

use std::sync::OnceLock;

use handlebars::{Handlebars, handlebars_helper, no_escape};
use serde_json::Value as Json;

handlebars_helper!(lower: |text: str| text.to_lowercase());
handlebars_helper!(upper: |text: str| text.to_uppercase());

fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: OnceLock<Handlebars<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(no_escape);
        registry.register_helper("lower", Box::new(lower));
        registry.register_helper("upper", Box::new(upper));
        registry
    })
}

/// Why a template could not be rendered. Manifests are checked when loaded, so
/// this is rare: a value missing at run time.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot render the template `{template}`: {reason}")]
#[diagnostic(
    code(bulkops::template::render),
    help("check the variables the template uses; `bulkops validate` lists the ones available")
)]
pub struct RenderError {
    pub template: String,
    pub reason: String,
}

/// Renders `template` with `context`.
pub fn render(template: &str, context: &Json) -> Result<String, RenderError> {
    registry()
        .render_template(template, context)
        .map_err(|error| RenderError {
            template: template.to_owned(),
            reason: error.reason().to_string(),
        })
}

/// A directory value made safe as one path segment: no separators, no `..`,
/// no control characters, no characters Windows forbids, not empty.
pub fn file_name_safe(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_matches('.');
    if trimmed.is_empty() {
        "_".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_strictly_without_escaping() {
        let context = json!({"vars": {"out": "exports"}, "group": {"displayName": "R&D <Core>"}});
        assert_eq!(
            render("{{vars.out}}/{{group.displayName}}.csv", &context).unwrap(),
            "exports/R&D <Core>.csv"
        );
        assert_eq!(
            render("{{upper vars.out}}-{{lower group.displayName}}", &context).unwrap(),
            "EXPORTS-r&d <core>"
        );
        let error = render("{{vars.missing}}", &context).unwrap_err();
        assert!(error.reason.contains("vars.missing"), "{error}");
    }

    #[test]
    fn directory_values_become_safe_file_names() {
        assert_eq!(file_name_safe("eng/platform"), "eng_platform");
        assert_eq!(file_name_safe(".."), "_");
        assert_eq!(file_name_safe("../../etc"), "_.._etc");
        assert_eq!(file_name_safe("a\u{0}b\nc"), "a_b_c");
        assert_eq!(file_name_safe("Sales: EMEA?"), "Sales_ EMEA_");
        assert_eq!(file_name_safe("  "), "_");
    }
}
