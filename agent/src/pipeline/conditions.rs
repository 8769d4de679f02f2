//! V2 stage conditions (pure), per "How do stage conditions work?" and the rule references of
//! the CodePipeline User Guide:
//!
//! - `beforeEntry`: every rule of a condition must pass for the stage to be entered; when one
//!   fails, the condition's result applies: `FAIL` (the stage fails, the default) or `SKIP` (the
//!   stage is skipped and the execution goes on).
//! - `onSuccess`: checked once the stage succeeded; when a rule fails, the result applies:
//!   `FAIL` (the default) or `ROLLBACK`.
//! - `onFailure`: when the stage failed, its `result` applies (`RETRY` with
//!   `retryConfiguration.retryMode` `FAILED_ACTIONS` or `ALL_ACTIONS`, `ROLLBACK`, or `FAIL`);
//!   with conditions, only when their rules pass.
//!
//! Rules: `VariableCheck` (`Variable`, `Value`, `Operator` EQ, NE, CONTAINS or MATCHES, a whole
//! match of the regular expression) is decided here; `Commands` runs its commands in a build
//! (the runner); `DeploymentWindow`, `LambdaInvoke` and `CloudWatchAlarm` need AWS and are not
//! evaluated here: they fail, saying so.

use std::collections::BTreeMap;

use crate::shapes::codepipeline::{Condition, RuleDeclaration};

/// What a condition does when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Result {
    Fail,
    Skip,
    Rollback,
    Retry,
}

impl Result {
    pub fn parse(text: &str) -> std::result::Result<Result, String> {
        match text {
            "FAIL" => Ok(Result::Fail),
            "SKIP" => Ok(Result::Skip),
            "ROLLBACK" => Ok(Result::Rollback),
            "RETRY" => Ok(Result::Retry),
            other => Err(format!("the condition result `{other}` is not FAIL, SKIP, ROLLBACK or RETRY")),
        }
    }
}

/// A condition's result, or `default` when it names none.
pub fn result_of(condition: &Condition, default: Result) -> std::result::Result<Result, String> {
    condition.result.as_deref().map_or(Ok(default), Result::parse)
}

/// How a rule is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule<'a> {
    /// A VariableCheck, decided from its resolved configuration.
    Variable,
    /// Commands run in a build: the rule passes when they all succeed.
    Commands(&'a [String]),
    /// A rule that needs AWS (a deployment window, a Lambda function, an alarm).
    NotHere(&'a str),
}

/// What kind of rule `rule` is.
pub fn kind(rule: &RuleDeclaration) -> Rule<'_> {
    match rule.rule_type_id.provider.as_str() {
        "VariableCheck" => Rule::Variable,
        "Commands" => Rule::Commands(rule.commands.as_deref().unwrap_or_default()),
        other => Rule::NotHere(other),
    }
}

/// A VariableCheck rule with its configuration resolved: `Ok(true)` when it passes, with the
/// comparison it made for the log.
pub fn variable_check(config: &BTreeMap<String, String>) -> std::result::Result<(bool, String), String> {
    let get = |k: &str| config.get(k).ok_or_else(|| format!("a VariableCheck rule needs {k}"));
    let (variable, value, operator) = (get("Variable")?, get("Value")?, get("Operator")?);
    let passed = match operator.as_str() {
        "EQ" => variable == value,
        "NE" => variable != value,
        "CONTAINS" => variable.contains(value.as_str()),
        "MATCHES" => regex::Regex::new(&format!("^(?:{value})$"))
            .map_err(|e| format!("MATCHES: `{value}` is not a regular expression: {e}"))?
            .is_match(variable),
        other => return Err(format!("Operator is `{other}`; use EQ, NE, CONTAINS or MATCHES")),
    };
    Ok((passed, format!("`{variable}` {operator} `{value}`: {}", if passed { "passed" } else { "failed" })))
}

/// `retryConfiguration.retryMode`: whether a retry runs only the failed actions.
pub fn retry_failed_only(mode: Option<&str>) -> std::result::Result<bool, String> {
    match mode {
        None | Some("FAILED_ACTIONS") => Ok(true),
        Some("ALL_ACTIONS") => Ok(false),
        Some(other) => Err(format!("retryMode `{other}` is not FAILED_ACTIONS or ALL_ACTIONS")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(variable: &str, operator: &str, value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("Variable".to_string(), variable.to_string()),
            ("Operator".to_string(), operator.to_string()),
            ("Value".to_string(), value.to_string()),
        ])
    }

    #[test]
    fn variable_checks() {
        let table: &[(&str, &str, &str, std::result::Result<bool, &str>)] = &[
            ("main", "EQ", "main", Ok(true)),
            ("dev", "EQ", "main", Ok(false)),
            ("dev", "NE", "main", Ok(true)),
            ("Fix the update path", "CONTAINS", "update", Ok(true)),
            ("release/1.2", "MATCHES", "release/[0-9.]+", Ok(true)),
            ("release/1.2-rc", "MATCHES", "release/[0-9.]+", Ok(false)),
            ("x", "MATCHES", "(", Err("not a regular expression")),
            ("x", "GT", "y", Err("use EQ, NE, CONTAINS or MATCHES")),
        ];
        for (variable, operator, value, expected) in table {
            match (variable_check(&config(variable, operator, value)), expected) {
                (Ok((got, _)), Ok(want)) => assert_eq!(got, *want, "{variable} {operator} {value}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{e}"),
                (got, want) => panic!("{variable} {operator} {value}: {got:?}, expected {want:?}"),
            }
        }
        assert!(variable_check(&BTreeMap::new()).unwrap_err().contains("needs Variable"));
    }

    #[test]
    fn results_and_retry_modes() {
        let c = Condition { result: Some("SKIP".into()), rules: None };
        assert_eq!(result_of(&c, Result::Fail), Ok(Result::Skip));
        assert_eq!(result_of(&Condition::default(), Result::Fail), Ok(Result::Fail));
        assert!(Result::parse("MAYBE").is_err());
        assert_eq!(retry_failed_only(None), Ok(true));
        assert_eq!(retry_failed_only(Some("ALL_ACTIONS")), Ok(false));
        assert!(retry_failed_only(Some("SOME")).is_err());
    }
}
