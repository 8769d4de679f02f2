//! `runspec pipeline check` through the binary: a valid pipeline, every problem of a broken one
//! with its line and column, and a file that is not a pipeline.

use std::process::Command;

use serde_json::{Value, json};

fn check(text: &str, format: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.json");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["pipeline", "check", "--format", format])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The workshop's pipeline as `aws codepipeline get-pipeline` prints it.
fn workshop() -> Value {
    let action = |name: &str, category: &str, provider: &str, config: Value| {
        json!({"name": name, "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
               "runOrder": 1, "configuration": config})
    };
    let mut source = action(
        "Source",
        "Source",
        "CodeStarSourceConnection",
        json!({
        "ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x",
        "FullRepositoryId": "me/app", "BranchName": "main", "OutputArtifactFormat": "CODE_ZIP"}),
    );
    source["outputArtifacts"] = json!([{"name": "SourceArtifact"}]);
    source["namespace"] = json!("SourceVariables");
    let mut build = action(
        "Build",
        "Build",
        "CodeBuild",
        json!({"ProjectName": "app",
        "EnvironmentVariables": "[{\"name\":\"TAG\",\"value\":\"#{SourceVariables.CommitId}\",\"type\":\"PLAINTEXT\"}]"}),
    );
    build["inputArtifacts"] = json!([{"name": "SourceArtifact"}]);
    build["outputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    build["namespace"] = json!("BuildVariables");
    let mut deploy = action(
        "Deploy",
        "Deploy",
        "ECS",
        json!({"ClusterName": "workshop", "ServiceName": "web",
        "FileName": "imagedefinitions.json"}),
    );
    deploy["inputArtifacts"] = json!([{"name": "BuildArtifact"}]);
    json!({"pipeline": {"name": "workshop", "roleArn": "arn:aws:iam::123456789012:role/pipeline",
        "artifactStore": {"type": "S3", "location": "codepipeline-us-east-1-123"},
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]},
                   {"name": "Deploy", "actions": [deploy]}],
        "version": 1, "pipelineType": "V1"},
        "metadata": {"pipelineArn": "arn:aws:codepipeline:us-east-1:123456789012:workshop"}})
}

#[test]
fn a_valid_pipeline_passes() {
    let (code, stdout, stderr) = check(&serde_json::to_string_pretty(&workshop()).unwrap(), "human");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.trim_end().ends_with(": valid"), "{stdout}");
}

#[test]
fn every_problem_is_reported_with_its_place() {
    let mut p = workshop();
    let stages = &mut p["pipeline"]["stages"];
    stages[2]["actions"][0]["inputArtifacts"][0]["name"] = json!("BuiltArtifact");
    stages[2]["actions"][0]["configuration"]["ClusterName"] = json!("#{Build.Cluster}");
    stages[1]["actions"][0]["runOrder"] = json!(1000);
    stages[1]["actions"][0]["actionTypeId"]["provider"] = json!("Commands");
    let text = serde_json::to_string_pretty(&p).unwrap();
    let (code, stdout, stderr) = check(&text, "json");
    assert_eq!(code, 1, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let issues = report["issues"].as_array().unwrap();
    let line_of = |code: &str| -> String {
        let i = issues.iter().find(|i| i["code"] == code).unwrap_or_else(|| panic!("{code}: {stdout}"));
        assert_eq!(i["file"].as_str().map(|f| f.ends_with("pipeline.json")), Some(true));
        let line = i["line"].as_u64().unwrap() as usize;
        let column = i["column"].as_u64().unwrap() as usize;
        text.lines().nth(line - 1).unwrap().chars().skip(column - 1).collect()
    };
    assert!(line_of("pipeline::input-not-produced").starts_with("\"BuiltArtifact\""));
    assert!(line_of("pipeline::unknown-namespace").starts_with("\"#{Build.Cluster}\""));
    assert!(line_of("pipeline::model").starts_with("1000"), "runOrder is at most 999");
    assert!(line_of("pipeline::v2-only").starts_with("\"Commands\""));
    assert_eq!(report["errors"], issues.len());
}

#[test]
fn a_file_that_is_not_a_pipeline_is_a_usage_error() {
    for text in ["{\"pipeline\": ", "{\"projects\": []}"] {
        let (code, _, stderr) = check(text, "human");
        assert_eq!(code, 2, "{text}: {stderr}");
        assert!(stderr.contains("pipeline.json: not"), "{stderr}");
    }
}
