//! The manifest's JSON Schema: generated from the spec types, and used to check
//! documents with every violation reported at once, in words an administrator
//! understands.
//!
//! The schema is the contract editors see (through `yaml-language-server`), so it
//! must be a standard draft 2020-12 schema. The checker maps each validator error
//! onto a [`Problem`] with a pointer, a message, and a suggestion where one helps.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{ValidationError, Validator};
use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value as Json;

use super::duration::DURATION_PATTERN;
use super::filter::DATE_PATTERN;
use super::spec::WorkflowSpec;
use super::target::{OBJECT_ID_PATTERN, STEP_ID_PATTERN};
use crate::problem::{Pointer, Problem, ProblemKind, Segment};
use crate::suggest::{all_of, did_you_mean, one_of};

/// Generates the manifest schema from the spec types.
pub fn generate() -> Json {
    let generator = SchemaSettings::draft2020_12()
        .with_transform(RecursiveTransform(forbid_null))
        .with_transform(RecursiveTransform(describe_single_property))
        .into_generator();
    generator.into_root_schema_for::<WorkflowSpec>().to_value()
}

/// The schema as committed in `schemas/manifest.schema.json` and printed by
/// `bulkops schema`: pretty JSON with a trailing newline.
pub fn generate_text() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).expect("a schema serializes");
    text.push('\n');
    text
}

/// Optional fields may be left out, but not written as `null`: an empty
/// `retry:` is more likely a mistake than a wish for the defaults.
fn forbid_null(schema: &mut Schema) {
    if let Some(Json::Array(types)) = schema.get("type") {
        let kept: Vec<Json> = types.iter().filter(|t| *t != "null").cloned().collect();
        if kept.len() == 1 {
            schema.insert("type".to_owned(), kept[0].clone());
        }
    }
    let Some(Json::Array(branches)) = schema.get("anyOf") else {
        return;
    };
    let is_null = |branch: &Json| branch.get("type").is_some_and(|t| t == "null");
    if branches.len() == 2 && branches.iter().any(is_null) {
        let kept = branches.iter().find(|b| !is_null(b)).cloned();
        schema.remove("anyOf");
        if let Some(Json::Object(fields)) = kept {
            for (key, value) in fields {
                schema.insert(key, value);
            }
        }
    }
}

/// A `{displayName: ...}` form of a one-of-several choice carries its
/// description on the object; editors show the property's, so copy it there.
fn describe_single_property(schema: &mut Schema) {
    let Some(description) = schema.get("description").cloned() else {
        return;
    };
    let Some(Json::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    if properties.len() == 1
        && let Some(Json::Object(property)) = properties.values_mut().next()
    {
        property.entry("description").or_insert(description);
    }
}

struct CompiledSchema {
    schema: Json,
    validator: Validator,
}

fn compiled() -> &'static CompiledSchema {
    static COMPILED: OnceLock<CompiledSchema> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let schema = generate();
        let validator =
            jsonschema::draft202012::new(&schema).expect("the generated schema compiles");
        CompiledSchema { schema, validator }
    })
}

/// Checks a document against the schema and returns every violation.
pub fn check(document: &Json) -> Vec<Problem> {
    let compiled = compiled();
    let mut problems = Vec::new();
    for error in compiled.validator.iter_errors(document) {
        let mapper = ErrorMapper {
            root: &compiled.schema,
        };
        mapper.map(&error, &mut problems);
    }
    problems
}

/// Turns validator errors into problems, looking up the schema for the names
/// that make a message useful.
struct ErrorMapper<'a> {
    root: &'a Json,
}

impl ErrorMapper<'_> {
    fn map(&self, error: &ValidationError<'_>, out: &mut Vec<Problem>) {
        let pointer = to_pointer(error.instance_path());
        let instance = error.instance();
        let schema_path = error.schema_path();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = self.sibling_properties(schema_path);
                for key in unexpected {
                    out.push(unknown_field(&pointer, key, &allowed));
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let help = self.property_description(schema_path, name);
                out.push(missing_field(pointer, name, help));
            }
            ValidationErrorKind::OneOfNotValid { context }
            | ValidationErrorKind::OneOfMultipleValid { context }
            | ValidationErrorKind::AnyOf { context } => {
                self.map_alternatives(error, &pointer, context, out);
            }
            ValidationErrorKind::Pattern { pattern } => {
                out.push(bad_format(pointer, instance, pattern));
            }
            ValidationErrorKind::Not { schema } if not_together(schema).is_some() => {
                let keys = not_together(schema).unwrap_or_default();
                out.push(exactly_one_key(pointer, instance, &keys));
            }
            ValidationErrorKind::PropertyNames { error } => {
                out.push(bad_property_name(&pointer, error));
            }
            kind => out.push(self.simple(pointer, instance, kind, schema_path)),
        }
    }

    fn simple(
        &self,
        pointer: Pointer,
        instance: &Json,
        kind: &ValidationErrorKind,
        schema_path: &Location,
    ) -> Problem {
        match kind {
            ValidationErrorKind::Type { kind } => {
                let description = if pointer.segments().is_empty() {
                    Some(
                        "a manifest is a mapping with `apiVersion`, `kind`, `metadata` and `spec`"
                            .to_owned(),
                    )
                } else {
                    self.description_of(schema_path)
                };
                wrong_type(pointer, instance, kind, description)
            }
            ValidationErrorKind::Enum { options } => unknown_value(pointer, instance, options),
            ValidationErrorKind::Constant { expected_value } => unknown_value(
                pointer,
                instance,
                &Json::Array(vec![(**expected_value).clone()]),
            ),
            ValidationErrorKind::MinProperties { .. } => {
                let allowed = self.sibling_properties(schema_path);
                Problem::at(ProblemKind::MissingField, pointer, "this mapping is empty")
                    .label("needs at least one field")
                    .help(format!("set at least one of {}", one_of(&allowed)))
            }
            other => range_problem(pointer, instance, other),
        }
    }

    /// A value failed every branch of a `oneOf` or `anyOf`. When the branches
    /// are "exactly one of these keys", say which keys; otherwise report the
    /// errors of the branch the value was evidently meant for.
    fn map_alternatives(
        &self,
        error: &ValidationError<'_>,
        pointer: &Pointer,
        context: &[Vec<ValidationError<'static>>],
        out: &mut Vec<Problem>,
    ) {
        let Some(branches) = self.schema_at(error.schema_path()).and_then(Json::as_array) else {
            out.push(generic(pointer.clone(), error));
            return;
        };
        let instance = error.instance();
        if let Some(keys) = required_keys_per_branch(branches) {
            // `anyOf` over required keys: at least one of them; the value has none.
            if matches!(error.kind(), ValidationErrorKind::AnyOf { .. }) {
                out.push(
                    Problem::at(
                        ProblemKind::MissingField,
                        pointer.clone(),
                        format!("missing one of {}", one_of(&keys)),
                    )
                    .label("needs at least one of these")
                    .help(format!("set at least one of {}", one_of(&keys))),
                );
                return;
            }
            match chosen_branch_by_key(instance, &keys) {
                Some(index) => self.map_branch(context, index, out),
                None => out.push(exactly_one_key(pointer.clone(), instance, &keys)),
            }
            return;
        }
        if let Some(allowed) = self.constants(branches) {
            out.push(unknown_value(
                pointer.clone(),
                instance,
                &Json::Array(allowed),
            ));
            return;
        }
        match branches
            .iter()
            .position(|branch| self.accepts_type(branch, instance))
        {
            Some(index) => self.map_branch(context, index, out),
            None => out.push(
                Problem::at(
                    ProblemKind::WrongType,
                    pointer.clone(),
                    format!("found {}", describe(instance)),
                )
                .label("wrong type")
                .help(self.description_of(error.schema_path()).unwrap_or_else(|| {
                    "see the field's description in `bulkops schema`".to_owned()
                })),
            ),
        }
    }

    /// The allowed values when every branch is a constant (a documented enum).
    fn constants(&self, branches: &[Json]) -> Option<Vec<Json>> {
        branches
            .iter()
            .map(|branch| self.follow_ref(branch).get("const").cloned())
            .collect()
    }

    fn map_branch(
        &self,
        context: &[Vec<ValidationError<'static>>],
        index: usize,
        out: &mut Vec<Problem>,
    ) {
        for nested in context.get(index).into_iter().flatten() {
            self.map(nested, out);
        }
    }

    /// Whether a branch schema is for values of the instance's JSON type.
    fn accepts_type(&self, branch: &Json, instance: &Json) -> bool {
        let branch = self.follow_ref(branch);
        if let Some(expected) = branch.get("type").and_then(Json::as_str) {
            return type_matches(expected, instance);
        }
        if let Some(constant) = branch.get("const") {
            return std::mem::discriminant(constant) == std::mem::discriminant(instance);
        }
        ["oneOf", "anyOf"]
            .iter()
            .filter_map(|keyword| branch.get(*keyword).and_then(Json::as_array))
            .flatten()
            .any(|inner| self.accepts_type(inner, instance))
    }

    fn follow_ref<'s>(&'s self, schema: &'s Json) -> &'s Json {
        match schema.get("$ref").and_then(Json::as_str) {
            Some(reference) => reference
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))
                .unwrap_or(schema),
            None => schema,
        }
    }

    /// The schema node at a keyword location, following `$ref` on the way.
    fn schema_at(&self, location: &Location) -> Option<&Json> {
        let mut node = self.root;
        for segment in location.segments() {
            node = self.follow_ref(node);
            node = match segment {
                LocationSegment::Property(key) if key == "$ref" => node,
                LocationSegment::Property(key) => node.get(key.as_ref())?,
                LocationSegment::Index(index) => node.get(index)?,
            };
        }
        Some(self.follow_ref(node))
    }

    /// The schema that holds the failing keyword, such as the object schema of
    /// an `additionalProperties` or `required` error.
    fn parent_schema(&self, location: &Location) -> Option<&Json> {
        let segments: Vec<_> = location.segments().collect();
        let parent: Location = segments[..segments.len().saturating_sub(1)]
            .iter()
            .cloned()
            .collect();
        self.schema_at(&parent)
    }

    fn sibling_properties(&self, location: &Location) -> Vec<String> {
        self.parent_schema(location)
            .and_then(|schema| schema.get("properties"))
            .and_then(Json::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn property_description(&self, location: &Location, name: &str) -> Option<String> {
        let property = self.parent_schema(location)?.get("properties")?.get(name)?;
        let description = property
            .get("description")
            .or_else(|| self.follow_ref(property).get("description"))?;
        description
            .as_str()
            .map(|text| first_sentence(&format!("`{name}`: {text}")))
    }

    fn description_of(&self, location: &Location) -> Option<String> {
        let description = self.parent_schema(location)?.get("description")?.as_str()?;
        Some(first_sentence(description))
    }
}

/// The keys of a `not: { required: [A, B] }` schema: fields that cannot be
/// combined.
fn not_together(schema: &Json) -> Option<Vec<String>> {
    schema
        .get("required")?
        .as_array()?
        .iter()
        .map(|key| key.as_str().map(str::to_owned))
        .collect()
}

/// The required key of each branch, when every branch is just "requires key K".
fn required_keys_per_branch(branches: &[Json]) -> Option<Vec<String>> {
    branches
        .iter()
        .map(
            |branch| match branch.get("required")?.as_array()?.as_slice() {
                [Json::String(key)] => Some(key.clone()),
                _ => None,
            },
        )
        .collect()
}

fn chosen_branch_by_key(instance: &Json, keys: &[String]) -> Option<usize> {
    let object = instance.as_object()?;
    let present: Vec<usize> = (0..keys.len())
        .filter(|i| object.contains_key(&keys[*i]))
        .collect();
    match present.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

fn exactly_one_key(pointer: Pointer, instance: &Json, keys: &[String]) -> Problem {
    let present: Vec<&String> = instance
        .as_object()
        .map(|object| {
            keys.iter()
                .filter(|key| object.contains_key(*key))
                .collect()
        })
        .unwrap_or_default();
    let is_step = keys.iter().any(|key| key == "filterGroups");
    match (present.as_slice(), is_step) {
        ([], true) => Problem::at(
            ProblemKind::MissingField,
            pointer,
            "this step has no action",
        )
        .label("step without an action")
        .help(format!("add one of {}", one_of(keys))),
        ([], false) => Problem::at(
            ProblemKind::MissingField,
            pointer,
            format!("missing one of {}", one_of(keys)),
        )
        .label("incomplete")
        .help(format!("set exactly one of {}", one_of(keys))),
        ([_], _) => Problem::at(
            ProblemKind::OneOf,
            pointer,
            "this value does not fit any allowed form",
        )
        .label("invalid")
        .help("see the field's description in `bulkops schema`"),
        (many, _) => {
            let names: Vec<&str> = many.iter().map(|key| key.as_str()).collect();
            let what = if is_step {
                "a step has exactly one action"
            } else {
                "only one may be set"
            };
            Problem::at_key(
                ProblemKind::OneOf,
                pointer.key(names[1].to_owned()),
                format!("{} cannot be combined", all_of(&names)),
            )
            .label("second choice")
            .help(format!("{what}; keep one of {}", one_of(&names)))
        }
    }
}

fn unknown_field(pointer: &Pointer, key: &str, allowed: &[String]) -> Problem {
    let suggestion = did_you_mean(key, allowed.iter().map(String::as_str));
    let help = match suggestion {
        Some(name) => format!("did you mean `{name}`?"),
        None if allowed.is_empty() => "remove this field".to_owned(),
        None => format!("fields allowed here: {}", one_of(allowed)),
    };
    Problem::at_key(
        ProblemKind::UnknownField,
        pointer.key(key.to_owned()),
        format!("unknown field `{key}`"),
    )
    .label("unknown field")
    .help(help)
}

fn missing_field(pointer: Pointer, name: &str, help: Option<String>) -> Problem {
    Problem::at(
        ProblemKind::MissingField,
        pointer,
        format!("missing field `{name}`"),
    )
    .label(format!("`{name}` is required here"))
    .help(help.unwrap_or_else(|| format!("add `{name}`")))
}

fn wrong_type(
    pointer: Pointer,
    instance: &Json,
    kind: &TypeKind,
    description: Option<String>,
) -> Problem {
    let expected: Vec<&str> = match kind {
        TypeKind::Single(single) => vec![type_word(single.as_str())],
        TypeKind::Multiple(set) => set.iter().map(|t| type_word(t.as_str())).collect(),
    };
    let expected = expected.join(" or ");
    let yaml_11_boolean = matches!(
        instance.as_str().map(str::to_ascii_lowercase).as_deref(),
        Some("yes" | "no" | "on" | "off" | "y" | "n")
    );
    Problem::at(
        ProblemKind::WrongType,
        pointer,
        format!("expected {expected}, found {}", describe(instance)),
    )
    .label(format!("expected {expected}"))
    .help(if yaml_11_boolean {
        "YAML 1.2 reads `yes`, `no`, `on` and `off` as text; write `true` or `false`".to_owned()
    } else {
        description.unwrap_or_else(|| format!("write {expected} here"))
    })
}

fn unknown_value(pointer: Pointer, instance: &Json, options: &Json) -> Problem {
    let allowed: Vec<String> = options
        .as_array()
        .map(|values| values.iter().map(plain_text).collect())
        .unwrap_or_default();
    let given = plain_text(instance);
    let help = match did_you_mean(&given, allowed.iter().map(String::as_str)) {
        Some(name) => format!("did you mean `{name}`?"),
        None => format!("use {}", one_of(&allowed)),
    };
    Problem::at(
        ProblemKind::UnknownValue,
        pointer,
        format!("`{given}` is not allowed here"),
    )
    .label(format!("expected {}", one_of(&allowed)))
    .help(help)
}

fn bad_format(pointer: Pointer, instance: &Json, pattern: &str) -> Problem {
    let text = plain_text(instance);
    let (message, help) = match pattern {
        DURATION_PATTERN => (
            format!("`{text}` is not a duration"),
            "write a whole number and a unit, like `500ms`, `3s`, `1m`, `2h` or `30d`".to_owned(),
        ),
        STEP_ID_PATTERN => (
            format!("`{text}` is not a valid step id"),
            "a step id starts with a letter, then up to 63 letters, digits, `-` or `_`".to_owned(),
        ),
        OBJECT_ID_PATTERN => (
            format!("`{text}` is not an object id"),
            "an object id is a GUID such as `4c5f8c1e-2b7d-4b8e-9a61-0c2d3e4f5a6b`; the admin center shows it on the object's overview page".to_owned(),
        ),
        DATE_PATTERN => (
            format!("`{text}` is not a date"),
            "write `YYYY-MM-DD` or a UTC time `YYYY-MM-DDTHH:MM:SSZ`".to_owned(),
        ),
        _ if pattern.starts_with("^[a-z0-9]") => (
            format!("`{text}` is not a valid workflow name"),
            "use lowercase letters, digits and dashes, starting and ending with a letter or digit, at most 63 characters".to_owned(),
        ),
        _ => (
            format!("`{text}` does not have the expected form"),
            format!("it must match the pattern `{pattern}`"),
        ),
    };
    Problem::at(ProblemKind::BadFormat, pointer, message)
        .label("malformed")
        .help(help)
}

fn bad_property_name(pointer: &Pointer, error: &ValidationError<'_>) -> Problem {
    let name = plain_text(error.instance());
    Problem::at_key(
        ProblemKind::BadFormat,
        pointer.key(name.clone()),
        format!("`{name}` is not a valid name here"),
    )
    .label("malformed name")
    .help("template variable names start with a letter or `_`, then letters, digits or `_`")
}

fn range_problem(pointer: Pointer, instance: &Json, kind: &ValidationErrorKind) -> Problem {
    let shown = plain_text(instance);
    let (message, label, help) = match kind {
        ValidationErrorKind::Minimum { limit } => (
            format!("`{shown}` is too small"),
            format!("the minimum is {limit}"),
            format!("use {limit} or more"),
        ),
        ValidationErrorKind::Maximum { limit } => (
            format!("`{shown}` is too large"),
            format!("the maximum is {limit}"),
            format!("use {limit} or less"),
        ),
        ValidationErrorKind::ExclusiveMinimum { limit } => (
            format!("`{shown}` is too small"),
            format!("must be more than {limit}"),
            format!("use a number above {limit}"),
        ),
        ValidationErrorKind::ExclusiveMaximum { limit } => (
            format!("`{shown}` is too large"),
            format!("must be less than {limit}"),
            format!("use a number below {limit}"),
        ),
        ValidationErrorKind::MinLength { limit } => (
            if *limit == 1 {
                "this text is empty".to_owned()
            } else {
                "this text is too short".to_owned()
            },
            if *limit == 1 {
                "must not be empty".to_owned()
            } else {
                format!("at least {limit} characters")
            },
            "write a value, or leave the field out to use its default".to_owned(),
        ),
        ValidationErrorKind::MaxLength { limit } => (
            "this text is too long".to_owned(),
            format!("at most {limit} characters"),
            format!("shorten it to {limit} characters or fewer"),
        ),
        ValidationErrorKind::MinItems { limit } => (
            if *limit == 1 {
                "this list is empty".to_owned()
            } else {
                "this list is too short".to_owned()
            },
            if *limit == 1 {
                "must not be empty".to_owned()
            } else {
                format!("at least {limit} items")
            },
            if *limit == 1 {
                "add at least one item".to_owned()
            } else {
                format!("add items until there are {limit}")
            },
        ),
        ValidationErrorKind::MaxItems { limit } => (
            "this list is too long".to_owned(),
            format!("at most {limit} items"),
            "split the work over several steps".to_owned(),
        ),
        ValidationErrorKind::UniqueItems => (
            "this list repeats a value".to_owned(),
            "duplicate value".to_owned(),
            "list each value once".to_owned(),
        ),
        other => (
            format!("invalid value: {other:?}").to_lowercase(),
            "invalid".to_owned(),
            "see the field's description in `bulkops schema`".to_owned(),
        ),
    };
    Problem::at(ProblemKind::OutOfRange, pointer, message)
        .label(label)
        .help(help)
}

fn generic(pointer: Pointer, error: &ValidationError<'_>) -> Problem {
    Problem::at(ProblemKind::WrongType, pointer, error.to_string())
        .label("invalid")
        .help("see the field's description in `bulkops schema`")
}

fn to_pointer(location: &Location) -> Pointer {
    let segments = location
        .segments()
        .map(|segment| match segment {
            LocationSegment::Property(key) => Segment::Key(key.into_owned().into()),
            LocationSegment::Index(index) => Segment::Index(index),
        })
        .collect();
    Pointer::from_segments(segments)
}

fn type_word(json_type: &str) -> &'static str {
    match json_type {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "`true` or `false`",
        _ => "nothing",
    }
}

fn type_matches(expected: &str, instance: &Json) -> bool {
    match expected {
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "integer" => instance.is_i64() || instance.is_u64(),
        "number" => instance.is_number(),
        "boolean" => instance.is_boolean(),
        _ => instance.is_null(),
    }
}

/// Describes a value for "found ..." in messages.
fn describe(instance: &Json) -> String {
    match instance {
        Json::Null => "nothing".to_owned(),
        Json::Bool(flag) => format!("`{flag}`"),
        Json::Number(number) => format!("the number `{number}`"),
        Json::String(text) => format!("the text `{}`", shorten(text)),
        Json::Array(_) => "a list".to_owned(),
        Json::Object(_) => "a mapping".to_owned(),
    }
}

fn plain_text(value: &Json) -> String {
    match value {
        Json::String(text) => shorten(text),
        other => shorten(&other.to_string()),
    }
}

fn shorten(text: &str) -> String {
    const LIMIT: usize = 60;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let head: String = text.chars().take(LIMIT).collect();
        format!("{head}…")
    }
}

fn first_sentence(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schema_is_a_valid_draft_2020_12_schema() {
        let schema = generate();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert!(jsonschema::meta::is_valid(&schema));
    }

    #[test]
    fn optional_fields_do_not_accept_null() {
        let text = generate_text();
        assert!(
            !text.contains("\"null\""),
            "the schema still allows null somewhere"
        );
    }

    #[test]
    fn reports_unknown_fields_with_a_suggestion() {
        let problems = check(&json!({
            "apiVersion": "bulkops/v1", "kind": "Workflow",
            "metadata": {"name": "x"},
            "spec": {"steps": [{"id": "a", "filterGroups": {"displayNam": {"equals": "x"}}}]}
        }));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].message, "unknown field `displayNam`");
        assert_eq!(
            problems[0].help.as_deref(),
            Some("did you mean `displayName`?")
        );
    }

    #[test]
    fn reports_a_step_without_action() {
        let problems = check(&json!({
            "apiVersion": "bulkops/v1", "kind": "Workflow",
            "metadata": {"name": "x"},
            "spec": {"steps": [{"id": "a"}]}
        }));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].message, "this step has no action");
    }

    #[test]
    fn reports_the_inner_error_of_the_branch_that_was_meant() {
        let problems = check(&json!({
            "apiVersion": "bulkops/v1", "kind": "Workflow",
            "metadata": {"name": "x"},
            "spec": {"steps": [{"id": "a", "importMembers": {"group": {"id": "nope"}, "input": "x.csv"}}]}
        }));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].message, "`nope` is not an object id");
    }
}
