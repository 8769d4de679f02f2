//! Every problem of a pipeline definition at once (pure): what CodePipeline's API refuses (the
//! model's required members, lengths, patterns and enums, from botocore) and what it refuses or
//! fails on beyond the model, per the CodePipeline User Guide ("Pipeline structure reference",
//! "Variables reference", the action reference of each provider):
//!
//! - `too-few-stages`, `source-stage`: at least two stages; the first holds only Source actions,
//!   and no later stage holds one. A Source action has no input artifacts.
//! - `duplicate-name`: stage names are unique in a pipeline, action names in a stage.
//! - `input-not-produced`: an input artifact is an output of an action that runs before: in an
//!   earlier stage, or in the same stage with a lower `runOrder`.
//! - `artifact-produced-twice`: output artifact names are unique in a pipeline.
//! - `unknown-namespace`, `unknown-variable`: `#{ns.var}` names a namespace an action that runs
//!   before declares, `#{variables.x}` a pipeline variable, `#{codepipeline.x}` one of
//!   CodePipeline's own.
//! - `v2-only`: Commands and ECRBuildAndPublish actions, pipeline variables, triggers and stage
//!   conditions need `pipelineType: V2`.
//! - `missing-configuration`: a provider's required configuration properties.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::definition::{Definition, NotAPipeline, Seg, from_model_path, key};
use super::plan::{Reference, references, run_order};
use crate::buildspec::{Diagnostics, Issue};
use crate::serve::wire::model::{CODEPIPELINE, Invalid};
use crate::shapes::codepipeline::{ActionDeclaration, PipelineDeclaration};

/// The configuration properties each provider requires (category, provider, properties), from
/// the CodePipeline User Guide's action reference.
const REQUIRED: &[(&str, &str, &[&str])] = &[
    ("Source", "CodeCommit", &["RepositoryName", "BranchName"]),
    ("Source", "CodeStarSourceConnection", &["ConnectionArn", "FullRepositoryId", "BranchName"]),
    ("Source", "S3", &["S3Bucket", "S3ObjectKey"]),
    ("Source", "ECR", &["RepositoryName"]),
    ("Build", "CodeBuild", &["ProjectName"]),
    ("Test", "CodeBuild", &["ProjectName"]),
    ("Build", "ECRBuildAndPublish", &["ECRRepositoryName"]),
    ("Deploy", "ECS", &["ClusterName", "ServiceName"]),
    (
        "Deploy",
        "CodeDeployToECS",
        &[
            "ApplicationName",
            "DeploymentGroupName",
            "TaskDefinitionTemplateArtifact",
            "AppSpecTemplateArtifact",
        ],
    ),
    ("Deploy", "S3", &["BucketName", "Extract"]),
    ("Deploy", "CloudFormation", &["ActionMode", "StackName"]),
];

/// Actions only V2 pipelines have (provider names).
const V2_ACTIONS: &[&str] = &["Commands", "ECRBuildAndPublish"];

/// CodePipeline's own variables (`#{codepipeline.…}`).
const PIPELINE_VARIABLES: &[&str] = &["PipelineExecutionId"];

/// Checks a pipeline file: `Err` when it is not a pipeline at all (malformed JSON, another
/// document).
pub fn check(file: &str, text: &str) -> Result<Diagnostics, NotAPipeline> {
    let definition = Definition::read(text)?;
    let mut issues = Vec::new();
    let at = |path: &[Seg]| definition.span(path);
    match CODEPIPELINE.problems("PipelineDeclaration", &definition.value) {
        Ok(problems) => {
            for (path, message) in problems {
                issues.push(Issue::error("model", message, at(&from_model_path(&path)), "here"));
            }
        }
        Err(Invalid::Serialization(m) | Invalid::Constraints(m)) => {
            issues.push(Issue::error("model", m, at(&[]), "in this pipeline"));
        }
    }
    if let Some(pipeline) = &definition.pipeline {
        for (path, problem) in problems(pipeline) {
            let Problem { code, message, label, help } = problem;
            let issue = Issue::error(code, message, at(&path), label);
            issues.push(match help {
                Some(h) => issue.help(h),
                None => issue,
            });
        }
    }
    issues.sort_by_key(|i| i.span.start);
    Ok(Diagnostics { domain: "pipeline", file: file.to_string(), source: Arc::from(text), issues })
}

/// One problem beyond the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

fn problem(code: &'static str, message: String, label: &str) -> Problem {
    Problem { code, message, label: label.to_string(), help: None }
}

/// Where an action runs: its stage and [`run_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct When {
    stage: usize,
    run_order: i64,
}

impl When {
    fn before(self, other: When) -> bool {
        self.stage < other.stage || (self.stage == other.stage && self.run_order < other.run_order)
    }
}

fn action_path(stage: usize, action: usize) -> Vec<Seg> {
    vec![key("stages"), Seg::Index(stage), key("actions"), Seg::Index(action)]
}

fn with(mut path: Vec<Seg>, more: &[Seg]) -> Vec<Seg> {
    path.extend_from_slice(more);
    path
}

/// The problems of a pipeline beyond the model, each with its path.
pub fn problems(p: &PipelineDeclaration) -> Vec<(Vec<Seg>, Problem)> {
    let mut out = Vec::new();
    let v2 = p.pipeline_type.as_deref() == Some("V2");
    structure(p, &mut out);
    let actions: Vec<(usize, usize, &ActionDeclaration, When)> = p
        .stages
        .iter()
        .enumerate()
        .flat_map(|(s, stage)| {
            stage
                .actions
                .iter()
                .enumerate()
                .map(move |(a, action)| (s, a, action, When { stage: s, run_order: run_order(action) }))
        })
        .collect();
    let full_name = |s: usize, a: &ActionDeclaration| format!("{}/{}", p.stages[s].name, a.name);

    // Artifacts: each made once, and by an action that runs before its readers.
    let mut made: HashMap<&str, (usize, usize, When)> = HashMap::new();
    for &(s, a, action, when) in &actions {
        for (i, output) in action.output_artifacts.iter().flatten().enumerate() {
            let path = with(action_path(s, a), &[key("outputArtifacts"), Seg::Index(i), key("name")]);
            match made.get(output.name.as_str()) {
                Some(&(ps, pa, _)) => out.push((
                    path,
                    problem(
                        "artifact-produced-twice",
                        format!(
                            "the artifact `{}` is also produced by {}",
                            output.name,
                            full_name(ps, &p.stages[ps].actions[pa])
                        ),
                        "produced again",
                    ),
                )),
                None => {
                    made.insert(&output.name, (s, a, when));
                }
            }
        }
    }
    for &(s, a, action, when) in &actions {
        for (i, input) in action.input_artifacts.iter().flatten().enumerate() {
            let path = with(action_path(s, a), &[key("inputArtifacts"), Seg::Index(i), key("name")]);
            match made.get(input.name.as_str()) {
                Some(&(_, _, w)) if w.before(when) => {}
                Some(&(ps, pa, w)) => out.push((
                    path,
                    problem(
                        "input-not-produced",
                        format!(
                            "the artifact `{}` is produced by {} (stage {}, runOrder {}), which does not run before this action (stage {}, runOrder {})",
                            input.name,
                            full_name(ps, &p.stages[ps].actions[pa]),
                            w.stage + 1,
                            w.run_order,
                            when.stage + 1,
                            when.run_order
                        ),
                        "not made yet",
                    ),
                )),
                None => {
                    let known: Vec<&str> =
                        made.iter().filter(|(_, (_, _, w))| w.before(when)).map(|(n, _)| *n).collect();
                    let mut known = known;
                    known.sort_unstable();
                    out.push((
                        path,
                        Problem {
                            help: Some(if known.is_empty() {
                                "no action before this one produces an artifact".into()
                            } else {
                                format!("artifacts made before this action: {}", known.join(", "))
                            }),
                            ..problem(
                                "input-not-produced",
                                format!("no action before this one produces the artifact `{}`", input.name),
                                "no such artifact",
                            )
                        },
                    ));
                }
            }
        }
    }

    // Variables: `#{ns.var}` of a namespace declared before, pipeline variables, CodePipeline's.
    let mut namespaces: HashMap<&str, When> = HashMap::new();
    for &(_, _, action, when) in &actions {
        if let Some(ns) = &action.namespace {
            namespaces.entry(ns.as_str()).or_insert(when);
        }
    }
    let declared: HashSet<&str> = p.variables.iter().flatten().map(|v| v.name.as_str()).collect();
    for &(s, a, action, when) in &actions {
        let mut fields: Vec<(Vec<Seg>, &str)> = Vec::new();
        for (k, v) in action.configuration.iter().flatten() {
            fields.push((with(action_path(s, a), &[key("configuration"), key(k)]), v.as_str()));
        }
        for (i, c) in action.commands.iter().flatten().enumerate() {
            fields.push((with(action_path(s, a), &[key("commands"), Seg::Index(i)]), c.as_str()));
        }
        for (path, text) in fields {
            for Reference { ns, var, .. } in references(text) {
                let found = match ns {
                    "codepipeline" => PIPELINE_VARIABLES.contains(&var).then_some(()).ok_or_else(|| {
                        problem(
                            "unknown-variable",
                            format!(
                                "`#{{codepipeline.{var}}}` is not a CodePipeline variable ({})",
                                PIPELINE_VARIABLES.join(", ")
                            ),
                            "unknown",
                        )
                    }),
                    "variables" => declared.contains(var).then_some(()).ok_or_else(|| {
                        problem(
                            "unknown-variable",
                            format!("`#{{variables.{var}}}` names no variable of the pipeline"),
                            "not declared",
                        )
                    }),
                    _ => match namespaces.get(ns) {
                        Some(w) if w.before(when) => Ok(()),
                        Some(_) => Err(problem(
                            "unknown-namespace",
                            format!(
                                "the namespace `{ns}` belongs to an action that does not run before this one"
                            ),
                            "not set yet",
                        )),
                        None => Err(problem(
                            "unknown-namespace",
                            format!("no action declares the namespace `{ns}` (in `#{{{ns}.{var}}}`)"),
                            "unknown namespace",
                        )),
                    },
                };
                if let Err(e) = found {
                    out.push((path.clone(), e));
                }
            }
        }
    }

    // V2 features in a V1 pipeline.
    if !v2 {
        let v2_only = |what: String| Problem {
            help: Some("set \"pipelineType\": \"V2\"".into()),
            ..problem("v2-only", format!("{what} needs a V2 pipeline"), "V2 only")
        };
        for &(s, a, action, _) in &actions {
            let provider = action.action_type_id.provider.as_str();
            if V2_ACTIONS.contains(&provider) {
                let path = with(action_path(s, a), &[key("actionTypeId"), key("provider")]);
                out.push((path, v2_only(format!("the {provider} action"))));
            }
        }
        if p.variables.as_ref().is_some_and(|v| !v.is_empty()) {
            out.push((vec![key("variables")], v2_only("pipeline variables".into())));
        }
        if p.triggers.as_ref().is_some_and(|t| !t.is_empty()) {
            out.push((vec![key("triggers")], v2_only("triggers".into())));
        }
        for (s, stage) in p.stages.iter().enumerate() {
            let on_failure_conditions =
                stage.on_failure.as_ref().and_then(|f| f.conditions.as_ref()).is_some_and(|c| !c.is_empty());
            for (member, present) in [
                ("beforeEntry", stage.before_entry.is_some()),
                ("onSuccess", stage.on_success.is_some()),
                ("onFailure", on_failure_conditions),
            ] {
                if present {
                    let path = vec![key("stages"), Seg::Index(s), key(member)];
                    out.push((path, v2_only(format!("a stage's `{member}` condition"))));
                }
            }
        }
    }

    // Each provider's required configuration.
    for &(s, a, action, _) in &actions {
        let t = &action.action_type_id;
        if t.owner != "AWS" {
            continue;
        }
        let Some((_, _, required)) =
            REQUIRED.iter().find(|(c, prov, _)| *c == t.category && *prov == t.provider)
        else {
            continue;
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|k| action.configuration.as_ref().is_none_or(|c| !c.contains_key(**k)))
            .copied()
            .collect();
        if !missing.is_empty() {
            let path = with(action_path(s, a), &[key("configuration")]);
            out.push((
                path,
                problem(
                    "missing-configuration",
                    format!(
                        "the {} {} action needs the configuration {}",
                        t.category,
                        t.provider,
                        missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                    "missing here",
                ),
            ));
        }
        if t.provider == "Commands" && action.commands.as_ref().is_none_or(Vec::is_empty) {
            out.push((
                action_path(s, a),
                problem("missing-configuration", "a Commands action needs `commands`".into(), "no commands"),
            ));
        }
    }
    out
}

/// Stages and names: at least two stages, Source actions in the first only, unique names.
/// CodePipeline's quotas on a pipeline's shape: stages per pipeline, actions per stage.
pub const MAX_STAGES: usize = 50;
pub const MAX_ACTIONS_PER_STAGE: usize = 50;

fn structure(p: &PipelineDeclaration, out: &mut Vec<(Vec<Seg>, Problem)>) {
    if p.stages.len() < 2 {
        out.push((
            vec![key("stages")],
            problem("too-few-stages", "a pipeline has at least two stages".into(), "one stage"),
        ));
    }
    if p.stages.len() > MAX_STAGES {
        out.push((
            vec![key("stages")],
            problem(
                "too-many-stages",
                format!(
                    "a pipeline has at most {MAX_STAGES} stages (CodePipeline's quota); this one has {}",
                    p.stages.len()
                ),
                "too many",
            ),
        ));
    }
    let mut stage_names = HashSet::new();
    for (s, stage) in p.stages.iter().enumerate() {
        if stage.actions.len() > MAX_ACTIONS_PER_STAGE {
            out.push((
                vec![key("stages"), Seg::Index(s), key("actions")],
                problem(
                    "too-many-actions",
                    format!(
                        "a stage has at most {MAX_ACTIONS_PER_STAGE} actions (CodePipeline's quota); `{}` has {}",
                        stage.name,
                        stage.actions.len()
                    ),
                    "too many",
                ),
            ));
        }
        if !stage_names.insert(stage.name.as_str()) {
            out.push((
                vec![key("stages"), Seg::Index(s), key("name")],
                problem("duplicate-name", format!("two stages are named `{}`", stage.name), "again"),
            ));
        }
        let mut action_names = HashSet::new();
        for (a, action) in stage.actions.iter().enumerate() {
            if !action_names.insert(action.name.as_str()) {
                out.push((
                    with(action_path(s, a), &[key("name")]),
                    problem(
                        "duplicate-name",
                        format!("two actions of stage `{}` are named `{}`", stage.name, action.name),
                        "again",
                    ),
                ));
            }
            let source = action.action_type_id.category == "Source";
            let category = with(action_path(s, a), &[key("actionTypeId"), key("category")]);
            if s == 0 && !source {
                out.push((
                    category,
                    Problem {
                        help: Some("move it to a later stage".into()),
                        ..problem(
                            "source-stage",
                            format!(
                                "the first stage holds only Source actions; `{}` is a {} action",
                                action.name, action.action_type_id.category
                            ),
                            "not a Source action",
                        )
                    },
                ));
            } else if s > 0 && source {
                out.push((
                    category,
                    problem(
                        "source-stage",
                        format!(
                            "Source actions belong in the first stage; `{}` is in stage `{}`",
                            action.name, stage.name
                        ),
                        "Source action",
                    ),
                ));
            }
            if source && action.input_artifacts.as_ref().is_some_and(|i| !i.is_empty()) {
                out.push((
                    with(action_path(s, a), &[key("inputArtifacts")]),
                    problem("source-stage", "a Source action has no input artifacts".into(), "inputs"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn action(name: &str, category: &str, provider: &str, config: Value) -> Value {
        json!({"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
               "configuration": config})
    }

    /// The workshop's pipeline: a CodeCommit source, a CodeBuild build, an ECS deploy.
    fn workshop() -> Value {
        let mut source =
            action("Source", "Source", "CodeCommit", json!({"RepositoryName": "app", "BranchName": "main"}));
        source["outputArtifacts"] = json!([{"name": "SourceOutput"}]);
        source["namespace"] = json!("SourceVariables");
        let mut build = action(
            "Build",
            "Build",
            "CodeBuild",
            json!({"ProjectName": "app", "EnvironmentVariables": "[{\"name\":\"C\",\"value\":\"#{SourceVariables.CommitId}\"}]"}),
        );
        build["inputArtifacts"] = json!([{"name": "SourceOutput"}]);
        build["outputArtifacts"] = json!([{"name": "BuildOutput"}]);
        let mut deploy = action(
            "Deploy",
            "Deploy",
            "ECS",
            json!({"ClusterName": "c", "ServiceName": "s", "FileName": "imagedefinitions.json"}),
        );
        deploy["inputArtifacts"] = json!([{"name": "BuildOutput"}]);
        json!({"name": "app", "roleArn": "arn:aws:iam::123456789012:role/p",
               "artifactStore": {"type": "S3", "location": "bucket"},
               "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]},
                          {"name": "Deploy", "actions": [deploy]}]})
    }

    fn codes(p: &Value) -> Vec<(&'static str, String)> {
        let typed: PipelineDeclaration = serde_json::from_value(p.clone()).unwrap();
        problems(&typed).into_iter().map(|(_, pr)| (pr.code, pr.message)).collect()
    }

    #[test]
    fn the_workshop_pipeline_is_valid() {
        assert_eq!(codes(&workshop()), []);
        let d = check("p.json", &json!({"pipeline": workshop()}).to_string()).unwrap();
        assert_eq!(d.issues, []);
    }

    #[test]
    fn each_broken_rule_is_named() {
        type Edit = fn(&mut Value);
        let table: &[(&str, Edit, &str)] = &[
            (
                "input-not-produced",
                |p| p["stages"][2]["actions"][0]["inputArtifacts"][0]["name"] = json!("Nope"),
                "no action before this one produces the artifact `Nope`",
            ),
            (
                "input-not-produced",
                |p| {
                    // Two actions of one stage at the same runOrder: one cannot read the other's output.
                    let reader = p["stages"][2]["actions"][0].clone();
                    p["stages"][1]["actions"].as_array_mut().unwrap().push(json!({"name": "Early", "actionTypeId": reader["actionTypeId"], "configuration": reader["configuration"], "inputArtifacts": [{"name": "BuildOutput"}], "runOrder": 1}));
                },
                "does not run before this action",
            ),
            (
                "artifact-produced-twice",
                |p| p["stages"][1]["actions"][0]["outputArtifacts"][0]["name"] = json!("SourceOutput"),
                "also produced by Source/Source",
            ),
            (
                "unknown-namespace",
                |p| {
                    p["stages"][1]["actions"][0]["configuration"]["ProjectName"] =
                        json!("#{BuildVariables.X}")
                },
                "no action declares the namespace `BuildVariables`",
            ),
            (
                "unknown-variable",
                |p| {
                    p["stages"][1]["actions"][0]["configuration"]["ProjectName"] = json!("#{variables.stage}")
                },
                "names no variable",
            ),
            (
                "v2-only",
                |p| p["stages"][1]["actions"][0]["actionTypeId"]["provider"] = json!("Commands"),
                "the Commands action needs a V2 pipeline",
            ),
            (
                "missing-configuration",
                |p| {
                    p["stages"][2]["actions"][0]["configuration"]
                        .as_object_mut()
                        .unwrap()
                        .remove("ServiceName");
                },
                "needs the configuration `ServiceName`",
            ),
            (
                "source-stage",
                |p| p["stages"][0]["actions"][0]["actionTypeId"]["category"] = json!("Build"),
                "the first stage holds only Source actions",
            ),
            ("duplicate-name", |p| p["stages"][1]["name"] = json!("Source"), "two stages are named `Source`"),
            (
                "too-few-stages",
                |p| {
                    p["stages"].as_array_mut().unwrap().truncate(1);
                },
                "at least two stages",
            ),
            (
                "too-many-stages",
                |p| {
                    let last = p["stages"][2].clone();
                    for i in 0..49 {
                        let mut stage = last.clone();
                        stage["name"] = json!(format!("Deploy{i}"));
                        p["stages"].as_array_mut().unwrap().push(stage);
                    }
                },
                "at most 50 stages",
            ),
            (
                "too-many-actions",
                |p| {
                    let approval = json!({"name": "A", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}});
                    for i in 0..50 {
                        let mut a = approval.clone();
                        a["name"] = json!(format!("Approve{i}"));
                        p["stages"][2]["actions"].as_array_mut().unwrap().push(a);
                    }
                },
                "at most 50 actions",
            ),
        ];
        for (code, edit, says) in table {
            let mut p = workshop();
            edit(&mut p);
            let found = codes(&p);
            assert!(found.iter().any(|(c, m)| c == code && m.contains(says)), "{code}: {found:?}");
        }
        // A V2 pipeline may have them; a later namespace is fine.
        let mut p = workshop();
        p["pipelineType"] = json!("V2");
        p["stages"][1]["actions"][0]["actionTypeId"]["provider"] = json!("Commands");
        p["stages"][1]["actions"][0]["commands"] = json!(["make"]);
        p["variables"] = json!([{"name": "stage", "defaultValue": "dev"}]);
        p["stages"][2]["actions"][0]["configuration"]["ClusterName"] =
            json!("#{variables.stage}-#{codepipeline.PipelineExecutionId}");
        assert_eq!(codes(&p), []);
    }

    #[test]
    fn problems_point_at_their_place_and_the_model_is_checked() {
        let mut p = workshop();
        p["stages"][2]["actions"][0]["inputArtifacts"][0]["name"] = json!("Nope");
        p["stages"][1]["actions"][0]["runOrder"] = json!(0);
        let text = serde_json::to_string_pretty(&json!({"pipeline": p})).unwrap();
        let d = check("p.json", &text).unwrap();
        let at = |code: &str| {
            let i =
                d.issues.iter().find(|i| i.code == code).unwrap_or_else(|| panic!("{code}: {:?}", d.issues));
            let (line, _) = crate::buildspec::yaml::line_col(&text, i.span.start);
            text.lines().nth(line - 1).unwrap().to_string()
        };
        assert!(at("input-not-produced").contains("\"Nope\""));
        assert!(at("model").contains("\"runOrder\": 0"));
        let json = d.to_json();
        assert!(json.to_string().contains("pipeline::input-not-produced"), "{json}");
        assert!(check("p.json", "{}").is_err());
    }
}
