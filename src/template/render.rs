//! Rendering templates when a step runs: strict Handlebars (an unknown variable
//! is an error, never an empty string), no HTML escaping, the `lower` and
//! `upper` helpers, and values from the directory made safe for file names.

use std::sync::OnceLock;

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
    handlebars_helper, no_escape,
};
use jiff::Timestamp;
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
        registry.register_helper("date", Box::new(date));
        registry
    })
}

/// Formats a time in UTC with a strftime format, or says why the format is wrong.
pub(super) fn format_date(format: &str, time: Timestamp) -> Result<String, String> {
    let zoned = time.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    jiff::fmt::strtime::format(format, &zoned).map_err(|error| error.to_string())
}

/// `{{date "%Y-%m"}}`: the run's start (`run.timestamp`) in a strftime format.
fn date(
    helper: &Helper<'_>,
    _: &Handlebars<'_>,
    context: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let format = helper
        .param(0)
        .and_then(|param| param.value().as_str())
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("date", 0))?;
    let started: Timestamp = context
        .data()
        .pointer("/run/timestamp")
        .and_then(|value| value.as_str())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| RenderErrorReason::MissingVariable(Some("run.timestamp".to_owned())))?;
    let text = format_date(format, started).map_err(RenderErrorReason::Other)?;
    out.write(&text)?;
    Ok(())
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
    fn dates_render_from_the_run_start() {
        let context = json!({"run": {"timestamp": "2026-11-27T08:05:00Z"}});
        assert_eq!(
            render("exports/{{date \"%Y/%m\"}}/x.csv", &context).unwrap(),
            "exports/2026/11/x.csv"
        );
        assert_eq!(render("{{date \"%d-%H%M\"}}", &context).unwrap(), "27-0805");
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
