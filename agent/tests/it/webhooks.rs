//! Webhooks through the AWS CLI (issue 24): CreateWebhook, UpdateWebhook and DeleteWebhook on
//! `runspec serve`, the filters checked as CodeBuild checks them, the secret shown only when it
//! is made, the webhook in BatchGetProjects.

use serde_json::json;

use crate::serve::Server;

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn webhooks_are_created_updated_and_deleted_through_the_aws_cli() {
    let s = Server::start(&["--public-url", "https://ci.example.com/"]);
    let github = json!({"type": "GITHUB", "location": "https://github.com/me/app.git"}).to_string();
    s.create_project_from("app", &github, &[]);
    s.create_project("inline", "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n", &[]);
    let groups =
        json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]])
            .to_string();
    let made = s.aws(&["codebuild", "create-webhook", "--project-name", "app", "--filter-groups", &groups])["webhook"]
        .clone();
    assert_eq!(made["payloadUrl"], "https://ci.example.com/webhooks/app");
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    assert_eq!(made["buildType"], "BUILD");
    assert_eq!(made["filterGroups"][0][1]["pattern"], "^refs/heads/main$");

    let fails = |args: &[&str], says: &[&str]| {
        let (code, _, err) = s.aws_as("test", args);
        assert_ne!(code, 0, "{args:?}");
        for needle in says {
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    };
    fails(&["codebuild", "create-webhook", "--project-name", "app"], &["ResourceAlreadyExistsException"]);
    fails(
        &["codebuild", "create-webhook", "--project-name", "inline"],
        &["InvalidInputException", "NO_SOURCE"],
    );
    fails(&["codebuild", "create-webhook", "--project-name", "nope"], &["ResourceNotFoundException"]);
    let no_event = json!([[{"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]]).to_string();
    let bad_event = json!([[{"type": "EVENT", "pattern": "PUSH, PULL_REQUEST_OPENED"}]]).to_string();
    let bad_regex =
        json!([[{"type": "EVENT", "pattern": "PUSH"}, {"type": "FILE_PATH", "pattern": "^src/("}]])
            .to_string();
    for (groups, says) in [
        (&no_event, "one EVENT filter"),
        (&bad_event, "PULL_REQUEST_OPENED"),
        (&bad_regex, "filterGroups[0][1]"),
    ] {
        fails(
            &["codebuild", "update-webhook", "--project-name", "app", "--filter-groups", groups],
            &["InvalidInputException", says],
        );
    }
    fails(
        &["codebuild", "update-webhook", "--project-name", "app", "--build-type", "RUNNER_BUILDKITE_BUILD"],
        &["InvalidInputException"],
    );

    // BatchGetProjects shows the webhook, never its secret.
    let project = s.aws(&["codebuild", "batch-get-projects", "--names", "app"])["projects"][0].clone();
    assert_eq!(project["webhook"]["payloadUrl"], "https://ci.example.com/webhooks/app");
    assert!(project["webhook"].get("secret").is_none(), "{project:#}");

    // An update keeps the secret unless it rotates it, and shows it only then.
    let prs =
        json!([[{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED"}]]).to_string();
    let updated = s.aws(&[
        "codebuild",
        "update-webhook",
        "--project-name",
        "app",
        "--filter-groups",
        &prs,
        "--build-type",
        "BUILD_BATCH",
    ])["webhook"]
        .clone();
    assert!(updated.get("secret").is_none(), "{updated:#}");
    assert_eq!(updated["buildType"], "BUILD_BATCH");
    assert_eq!(updated["filterGroups"][0][0]["pattern"], "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED");
    let rotated =
        s.aws(&["codebuild", "update-webhook", "--project-name", "app", "--rotate-secret"])["webhook"]
            .clone();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.len() == 64 && new_secret != secret, "{rotated:#}");
    // UpdateProject keeps the webhook (and does not show its secret).
    let p = s.aws(&["codebuild", "update-project", "--name", "app", "--description", "the app"])["project"]
        .clone();
    assert_eq!(p["webhook"]["buildType"], "BUILD_BATCH");
    assert!(p["webhook"].get("secret").is_none(), "{p:#}");

    s.aws(&["codebuild", "delete-webhook", "--project-name", "app"]);
    let project = s.aws(&["codebuild", "batch-get-projects", "--names", "app"])["projects"][0].clone();
    assert!(project.get("webhook").is_none(), "{project:#}");
    fails(&["codebuild", "delete-webhook", "--project-name", "app"], &["ResourceNotFoundException"]);
}
