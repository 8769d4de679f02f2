//! How an execution runs (pure): stages in order; in a stage, actions in groups of one
//! `runOrder`, lowest first, the actions of a group at once; and the `#{namespace.variable}`
//! references of an action's configuration resolved from what ran before, as CodePipeline
//! resolves them ("Variables reference" in the CodePipeline User Guide: a reference to a
//! variable that is not there fails the action; a resolved value is still at most 1,000
//! characters, the bound of a configuration value).

use std::collections::BTreeMap;

use crate::shapes::codepipeline::{ActionDeclaration, PipelineDeclaration};

/// The most characters a configuration value has once resolved.
pub const MAX_VALUE: usize = 1000;

/// One group of a stage: the actions with one `runOrder`, by their index in the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub run_order: i64,
    pub actions: Vec<usize>,
}

/// An action's `runOrder`: 1 when it has none.
pub fn run_order(action: &ActionDeclaration) -> i64 {
    action.run_order.unwrap_or(1)
}

/// A stage's groups, lowest `runOrder` first.
pub fn groups(actions: &[ActionDeclaration]) -> Vec<Group> {
    let mut by_order: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, a) in actions.iter().enumerate() {
        by_order.entry(run_order(a)).or_default().push(i);
    }
    by_order.into_iter().map(|(run_order, actions)| Group { run_order, actions }).collect()
}

/// Every stage's groups, in order.
pub fn plan(p: &PipelineDeclaration) -> Vec<Vec<Group>> {
    p.stages.iter().map(|s| groups(&s.actions)).collect()
}

/// The variables known so far: namespace → name → value. `codepipeline` and `variables` (the
/// pipeline's own) are namespaces like the actions'.
pub type Variables = BTreeMap<String, BTreeMap<String, String>>;

/// A `#{namespace.variable}` reference: where it is in its text, and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    pub range: std::ops::Range<usize>,
    pub ns: &'a str,
    pub var: &'a str,
}

/// The references in `text`, in order. `#{x}` (no dot, or an empty part) is not one, and an
/// unclosed `#{` ends the search.
pub fn references(text: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("#{").map(|i| from + i) {
        let Some(end) = text[at + 2..].find('}').map(|i| at + 2 + i) else { break };
        if let Some((ns, var)) = text[at + 2..end].split_once('.')
            && !ns.is_empty()
            && !var.is_empty()
        {
            out.push(Reference { range: at..end + 1, ns, var });
        }
        from = end + 1;
    }
    out
}

/// `text` with its `#{ns.var}` references replaced; `Err` names the first one that is not
/// there, or says the result is too long.
pub fn resolve(text: &str, known: &Variables) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for Reference { range, ns, var } in references(text) {
        let value = known.get(ns).and_then(|vars| vars.get(var)).ok_or_else(|| match known.get(ns) {
            Some(_) => format!("the variable `#{{{ns}.{var}}}` is not set: the namespace {ns} has no {var}"),
            None => {
                format!("the variable `#{{{ns}.{var}}}` is not set: no action so far set the namespace {ns}")
            }
        })?;
        out.push_str(&text[copied..range.start]);
        out.push_str(value);
        copied = range.end;
    }
    out.push_str(&text[copied..]);
    if out.chars().count() > MAX_VALUE {
        return Err(format!(
            "the value is {} characters once its variables are resolved; CodePipeline allows {MAX_VALUE}",
            out.chars().count()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_run_by_run_order_and_together_when_equal() {
        let actions: Vec<ActionDeclaration> = serde_json::from_value(json!([
            {"name": "c", "runOrder": 3, "actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"}},
            {"name": "a", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}},
            {"name": "b", "runOrder": 1, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}},
            {"name": "d", "runOrder": 2, "actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"}}
        ]))
        .unwrap();
        assert_eq!(
            groups(&actions),
            [
                Group { run_order: 1, actions: vec![1, 2] },
                Group { run_order: 2, actions: vec![3] },
                Group { run_order: 3, actions: vec![0] }
            ]
        );
        assert_eq!(groups(&[]), []);
    }

    #[test]
    fn references_in_text() {
        let names = |t| references(t).into_iter().map(|r| (r.ns, r.var)).collect::<Vec<_>>();
        assert_eq!(names("a #{ns.v} b #{x.y}#{bad} #{.z}"), [("ns", "v"), ("x", "y")]);
        assert_eq!(names("#{unclosed.v"), []);
        assert_eq!(references("ab#{n.v}")[0].range, 2..8);
    }

    #[test]
    fn references_resolve_from_what_ran_before() {
        let mut known = Variables::new();
        known.entry("SourceVariables".into()).or_default().insert("CommitId".into(), "0f1e2d".into());
        known.entry("codepipeline".into()).or_default().insert("PipelineExecutionId".into(), "e-1".into());
        let table: &[(&str, Result<&str, &str>)] = &[
            ("app:#{SourceVariables.CommitId}", Ok("app:0f1e2d")),
            ("#{codepipeline.PipelineExecutionId}/#{SourceVariables.CommitId}", Ok("e-1/0f1e2d")),
            ("plain", Ok("plain")),
            ("#{notaref} #{", Ok("#{notaref} #{")),
            ("#{BuildVariables.TAG}", Err("no action so far set the namespace BuildVariables")),
            ("#{SourceVariables.BranchName}", Err("the namespace SourceVariables has no BranchName")),
        ];
        for (text, expected) in table {
            match (resolve(text, &known), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: {got:?}, expected {want:?}"),
            }
        }
        known.entry("big".into()).or_default().insert("v".into(), "x".repeat(999));
        assert!(resolve("#{big.v}", &known).is_ok());
        assert!(resolve("ab#{big.v}", &known).unwrap_err().contains("1001 characters"));
    }
}
