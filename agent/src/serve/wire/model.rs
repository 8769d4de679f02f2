//! The API as AWS defines it: the slice of botocore's CodeBuild and CloudWatch Logs models that
//! `runspec serve` implements (`model/*.json`, written by `scripts/wire_model.py`; a test fails
//! when they drift from botocore's), and the check of a request against it. Every member of
//! every request is checked here, in one place, before any operation sees it: its type, the
//! required members, enum values, lengths, value bounds and patterns, with AWS's own messages
//! ("1 validation error detected: Value '3' at 'timeoutInMinutesOverride' failed to satisfy
//! constraint: Member must have value greater than or equal to 5"). A few bounds CodeBuild
//! documents or enforces without stating them in the model are added ([`EXTRA`]).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

/// One service's model.
#[derive(Debug, Deserialize)]
pub struct Model {
    pub service: String,
    #[serde(rename = "targetPrefix")]
    pub target_prefix: String,
    pub operations: BTreeMap<String, Operation>,
    pub shapes: BTreeMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub input: Option<String>,
    pub output: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub members: BTreeMap<String, String>,
    #[serde(default)]
    pub required: Vec<String>,
    pub member: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
}

pub static CODEBUILD: LazyLock<Model> = LazyLock::new(|| load(include_str!("model/codebuild.json")));
pub static LOGS: LazyLock<Model> = LazyLock::new(|| load(include_str!("model/logs.json")));
pub static CODEPIPELINE: LazyLock<Model> = LazyLock::new(|| load(include_str!("model/codepipeline.json")));

fn load(text: &str) -> Model {
    // The files are part of the binary and checked by the tests: a broken one is a bug here.
    serde_json::from_str(text).expect("the embedded API model reads")
}

/// Bounds CodeBuild applies beyond its model: (shape, member, constraint).
pub const EXTRA: &[(&str, &str, Extra)] = &[
    // The CodeBuild User Guide: "auto-retry limit … up to 10".
    ("CreateProjectInput", "autoRetryLimit", Extra::Range(0.0, 10.0)),
    ("UpdateProjectInput", "autoRetryLimit", Extra::Range(0.0, 10.0)),
    ("StartBuildInput", "autoRetryLimitOverride", Extra::Range(0.0, 10.0)),
    // A project's own limit is at least one build (0 would queue every build for ever).
    ("CreateProjectInput", "concurrentBuildLimit", Extra::Range(1.0, 10_000.0)),
    ("UpdateProjectInput", "concurrentBuildLimit", Extra::Range(-1.0, 10_000.0)),
    // CodeBuild answers "EnvironmentVariable should be at most 4096 characters".
    ("EnvironmentVariable", "value", Extra::Length(4096)),
    ("EnvironmentVariable", "name", Extra::Length(255)),
    // CodeBuild states no count; runspec's bound keeps a request's variables linear to handle.
    ("ProjectEnvironment", "environmentVariables", Extra::Count(1000)),
    ("StartBuildInput", "environmentVariablesOverride", Extra::Count(1000)),
    ("StartBuildBatchInput", "environmentVariablesOverride", Extra::Count(1000)),
    ("ProjectBuildBatchConfig", "timeoutInMins", Extra::Range(5.0, 2160.0)),
    ("BatchRestrictions", "maximumBuildsAllowed", Extra::Range(1.0, 100.0)),
];

/// Enum values runspec adds to CodeBuild's (its extensions): `LOCAL`, a directory of the
/// server as a source (only beneath `--local-sources`).
pub const MORE_VALUES: &[(&str, &[&str])] = &[("SourceType", &["LOCAL"])];

#[derive(Debug, Clone, Copy)]
pub enum Extra {
    /// Value bounds, inclusive.
    Range(f64, f64),
    /// At most this many characters.
    Length(usize),
    /// At most this many list items.
    Count(usize),
}

/// What is wrong with a request: a value of the wrong JSON type (AWS's SerializationException)
/// or constraints it breaks (its validation exception).
#[derive(Debug, Clone, PartialEq)]
pub enum Invalid {
    Serialization(String),
    Constraints(String),
}

/// The most problems one message lists.
const LISTED: usize = 10;

impl Model {
    /// Checks `body` as the input of `operation`.
    pub fn check(&self, operation: &str, body: &Value) -> Result<(), Invalid> {
        let Some(input) = self.operations.get(operation).and_then(|o| o.input.as_deref()) else {
            return Ok(());
        };
        self.check_shape(input, body)
    }

    /// Checks `value` as the shape `name` (a pipeline declaration read from a file, say).
    pub fn check_shape(&self, name: &str, value: &Value) -> Result<(), Invalid> {
        let problems = self.problems(name, value)?;
        match problems.len() {
            0 => Ok(()),
            n => {
                let shown: Vec<&str> = problems.iter().take(LISTED).map(|(_, p)| p.as_str()).collect();
                let s = if n == 1 { "" } else { "s" };
                Err(Invalid::Constraints(format!("{n} validation error{s} detected: {}", shown.join("; "))))
            }
        }
    }

    /// Every way `value` breaks the shape `name`, each with the path of its member in AWS's
    /// form (`stages.1.member.actions.2.member.runOrder`: lists count from 1); `Err` for a value
    /// of the wrong type, which stops the check.
    pub fn problems(&self, name: &str, value: &Value) -> Result<Vec<(String, String)>, Invalid> {
        let mut found = Found::default();
        self.walk(name, None, value, "", &mut found)?;
        Ok(found.problems)
    }

    fn walk(
        &self,
        name: &str,
        member: Option<(&str, &str)>,
        value: &Value,
        path: &str,
        found: &mut Found,
    ) -> Result<(), Invalid> {
        let Some(shape) = self.shapes.get(name) else { return Ok(()) };
        let extra: Vec<Extra> = member
            .into_iter()
            .flat_map(|(parent, m)| EXTRA.iter().filter(move |(p, n, _)| *p == parent && *n == m))
            .map(|(_, _, e)| *e)
            .collect();
        let wrong_type = |expected: &str| {
            Invalid::Serialization(format!(
                "the value at '{}' is {}, where {expected} is expected",
                display_path(path),
                kind_of(value)
            ))
        };
        match shape.kind.as_str() {
            "structure" => {
                let Value::Object(map) = value else { return Err(wrong_type("an object")) };
                for required in &shape.required {
                    if map.get(required).is_none_or(Value::is_null) {
                        found.add(
                            &join(path, required),
                            format!(
                                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                                join(path, required)
                            ),
                        );
                    }
                }
                for (key, child) in map {
                    if child.is_null() {
                        continue;
                    }
                    if let Some(child_shape) = shape.members.get(key) {
                        self.walk(child_shape, Some((name, key)), child, &join(path, key), found)?;
                    }
                }
            }
            "list" => {
                let Value::Array(items) = value else { return Err(wrong_type("a list")) };
                let count = items.len() as f64;
                bounds(shape, count, "length", value, path, found);
                for e in &extra {
                    if let Extra::Count(n) = e
                        && items.len() > *n
                    {
                        found.add(
                            path,
                            constraint(
                                value,
                                path,
                                &format!("Member must have length less than or equal to {n}"),
                            ),
                        );
                    }
                }
                if let Some(item) = &shape.member {
                    for (i, v) in items.iter().enumerate() {
                        self.walk(item, None, v, &format!("{path}.{}.member", i + 1), found)?;
                    }
                }
            }
            "map" => {
                let Value::Object(map) = value else { return Err(wrong_type("an object")) };
                if let Some(v) = &shape.value {
                    for (k, child) in map {
                        self.walk(v, None, child, &join(path, k), found)?;
                    }
                }
            }
            "string" => {
                let Value::String(s) = value else { return Err(wrong_type("a string")) };
                let chars = s.chars().count();
                bounds(shape, chars as f64, "length", value, path, found);
                for e in &extra {
                    if let Extra::Length(n) = e
                        && chars > *n
                    {
                        found.add(
                            path,
                            constraint(
                                value,
                                path,
                                &format!("Member must have length less than or equal to {n}"),
                            ),
                        );
                    }
                }
                let more = MORE_VALUES.iter().filter(|(n, _)| *n == name).flat_map(|(_, v)| v.iter());
                if let Some(values) = &shape.values
                    && !values.iter().any(|v| v == s)
                    && !more.clone().any(|v| v == s)
                {
                    found.add(
                        path,
                        constraint(
                            value,
                            path,
                            &format!("Member must satisfy enum value set: [{}]", values.join(", ")),
                        ),
                    );
                }
                if let Some(pattern) = &shape.pattern
                    && !matches_pattern(pattern, s)
                {
                    found.add(
                        path,
                        constraint(
                            value,
                            path,
                            &format!("Member must satisfy regular expression pattern: {pattern}"),
                        ),
                    );
                }
            }
            "integer" | "long" => {
                let Some(n) = value.as_i64().map(|n| n as f64).or_else(|| value.as_u64().map(|n| n as f64))
                else {
                    return Err(wrong_type("a whole number"));
                };
                let limit = if shape.kind == "integer" { i32::MAX as f64 } else { i64::MAX as f64 };
                if n.abs() > limit {
                    return Err(wrong_type(&format!("a number within ±{limit}")));
                }
                bounds(shape, n, "value", value, path, found);
                for e in &extra {
                    if let Extra::Range(lo, hi) = e {
                        if n < *lo {
                            found.add(
                                path,
                                constraint(
                                    value,
                                    path,
                                    &format!("Member must have value greater than or equal to {lo}"),
                                ),
                            );
                        } else if n > *hi {
                            found.add(
                                path,
                                constraint(
                                    value,
                                    path,
                                    &format!("Member must have value less than or equal to {hi}"),
                                ),
                            );
                        }
                    }
                }
            }
            "float" | "double" if !value.is_number() => return Err(wrong_type("a number")),
            "boolean" if !value.is_boolean() => return Err(wrong_type("true or false")),
            "timestamp" if !(value.is_number() || value.is_string()) => return Err(wrong_type("a time")),
            _ => {}
        }
        Ok(())
    }
}

/// Each problem with the path of the member it is about (`stages.1.member.name`).
#[derive(Default)]
struct Found {
    problems: Vec<(String, String)>,
}

impl Found {
    fn add(&mut self, path: &str, problem: String) {
        // Counted beyond what is listed; bounded so a hostile request cannot grow it.
        if self.problems.len() < 10_000 {
            self.problems.push((path.to_string(), problem));
        }
    }
}

/// The model's min/max of a length or a value.
fn bounds(shape: &Shape, n: f64, what: &str, value: &Value, path: &str, found: &mut Found) {
    if let Some(min) = shape.min
        && n < min
    {
        found.add(
            path,
            constraint(
                value,
                path,
                &format!("Member must have {what} greater than or equal to {}", min as i64),
            ),
        );
    }
    if let Some(max) = shape.max
        && n > max
    {
        found.add(
            path,
            constraint(value, path, &format!("Member must have {what} less than or equal to {}", max as i64)),
        );
    }
}

fn constraint(value: &Value, path: &str, rule: &str) -> String {
    format!("Value {}at '{}' failed to satisfy constraint: {rule}", shown(value), display_path(path))
}

/// A value as AWS quotes it in a message (`'3' `), cut to a readable length; nothing for a
/// list or an object.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => return String::new(),
        other => other.to_string(),
    };
    let cut: String = text.chars().take(64).collect();
    let more = if text.chars().count() > 64 { "…" } else { "" };
    format!("'{}{more}' ", cut.escape_debug())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn display_path(path: &str) -> &str {
    path
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A model pattern (Java syntax; the ones used are regex-crate compatible) matched against the
/// whole value, as AWS matches it. Compiled once each.
fn matches_pattern(pattern: &str, s: &str) -> bool {
    static COMPILED: LazyLock<std::sync::Mutex<BTreeMap<String, Option<regex::Regex>>>> =
        LazyLock::new(Default::default);
    let mut cache = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
    let re = cache
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok());
    re.as_ref().is_none_or(|re| re.is_match(s))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(op: &str, body: Value) -> Result<(), Invalid> {
        CODEBUILD.check(op, &body)
    }

    #[test]
    fn the_models_load_and_name_their_operations() {
        assert_eq!(CODEBUILD.target_prefix, "CodeBuild_20161006");
        assert_eq!(LOGS.target_prefix, "Logs_20140328");
        assert!(CODEBUILD.operations.contains_key("StartBuild"));
        assert!(LOGS.operations.contains_key("GetLogEvents"));
        assert!(CODEPIPELINE.operations.contains_key("CreatePipeline"));
        for (name, shape) in CODEBUILD.shapes.iter().chain(&LOGS.shapes).chain(&CODEPIPELINE.shapes) {
            if let Some(p) = &shape.pattern {
                assert!(regex::Regex::new(&format!("^(?:{p})$")).is_ok(), "{name}: {p}");
            }
        }
    }

    #[test]
    fn a_pipeline_declaration_is_checked_against_codepipelines_model() {
        let pipeline = json!({
            "name": "app", "roleArn": "arn:aws:iam::123456789012:role/p",
            "stages": [{"name": "Source", "actions": [{
                "name": "Code",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "runOrder": 1,
                "configuration": {"RepositoryName": "app", "BranchName": "main"},
                "outputArtifacts": [{"name": "SourceOutput"}]
            }]}]
        });
        assert_eq!(CODEPIPELINE.check_shape("PipelineDeclaration", &pipeline), Ok(()));
        let mut broken = pipeline.clone();
        broken["stages"][0]["actions"][0]["runOrder"] = json!(0);
        broken["stages"][0]["actions"][0]["actionTypeId"]["category"] = json!("Bake");
        let Err(Invalid::Constraints(m)) = CODEPIPELINE.check_shape("PipelineDeclaration", &broken) else {
            panic!("a runOrder of 0 and an unknown category pass")
        };
        assert!(m.starts_with("2 validation errors detected"), "{m}");
        assert!(m.contains("greater than or equal to 1") && m.contains("Bake"), "{m}");
        // The shapes read it.
        let typed: crate::shapes::codepipeline::PipelineDeclaration =
            serde_json::from_value(pipeline).unwrap();
        assert_eq!(typed.stages[0].actions[0].action_type_id.provider, "CodeCommit");
    }

    #[test]
    fn bounds_enums_required_members_and_types_as_aws_words_them() {
        assert_eq!(check("StartBuild", json!({"projectName": "p", "timeoutInMinutesOverride": 10})), Ok(()));
        assert_eq!(
            check("StartBuild", json!({"projectName": "p", "timeoutInMinutesOverride": 3})),
            Err(Invalid::Constraints("1 validation error detected: Value '3' at 'timeoutInMinutesOverride' failed to satisfy constraint: Member must have value greater than or equal to 5".into()))
        );
        let table: &[(Value, &str)] = &[
            (json!({"projectName": "p", "timeoutInMinutesOverride": 2161}), "less than or equal to 2160"),
            (json!({"projectName": "p", "queuedTimeoutInMinutesOverride": 481}), "less than or equal to 480"),
            (json!({"projectName": "p", "autoRetryLimitOverride": 1_000_000}), "less than or equal to 10"),
            (json!({"projectName": "p", "gitCloneDepthOverride": -1}), "greater than or equal to 0"),
            (
                json!({"projectName": "p", "computeTypeOverride": "HUGE"}),
                "enum value set: [BUILD_GENERAL1_SMALL",
            ),
            (json!({"projectName": ""}), "length greater than or equal to 1"),
            (json!({}), "Value null at 'projectName'"),
            (
                json!({"projectName": "p", "environmentVariablesOverride": [{"name": "A", "value": "x".repeat(4097)}]}),
                "'environmentVariablesOverride.1.member.value'",
            ),
            (
                json!({"projectName": "p", "environmentVariablesOverride": [{"name": "A"}]}),
                "Value null at 'environmentVariablesOverride.1.member.value'",
            ),
            (
                json!({"projectName": "p", "secondarySourcesOverride": (0..13).map(|i| json!({"type": "NO_SOURCE", "sourceIdentifier": format!("s{i}")})).collect::<Vec<_>>()}),
                "length less than or equal to 12",
            ),
        ];
        for (body, want) in table {
            match check("StartBuild", body.clone()) {
                Err(Invalid::Constraints(m)) => assert!(m.contains(want), "{body}: {m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let bad_name = check(
            "CreateProject",
            json!({"name": "-x", "source": {"type": "NO_SOURCE"}, "artifacts": {"type": "NO_ARTIFACTS"}, "environment": {"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"}, "serviceRole": "r"}),
        );
        assert!(
            matches!(&bad_name, Err(Invalid::Constraints(m)) if m.contains("regular expression pattern")),
            "{bad_name:?}"
        );
        // 2^64-1 is not an integer of the model: a serialization error, never an overflow.
        let huge: Value =
            serde_json::from_str(r#"{"projectName": "p", "timeoutInMinutesOverride": 18446744073709551615}"#)
                .unwrap();
        assert!(matches!(check("StartBuild", huge), Err(Invalid::Serialization(_))));
        assert!(matches!(check("StartBuild", json!({"projectName": 5})), Err(Invalid::Serialization(_))));
        // Several at once, counted and listed.
        match check("StartBuild", json!({"timeoutInMinutesOverride": 1, "queuedTimeoutInMinutesOverride": 1}))
        {
            Err(Invalid::Constraints(m)) => assert!(m.starts_with("3 validation errors detected: "), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(LOGS.check("GetLogEvents", &json!({"logStreamName": "s", "limit": 0})).is_err());
    }
}
