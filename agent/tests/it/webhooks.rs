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

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn signed_github_deliveries_start_the_builds_their_filters_allow() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repos/app");
    std::fs::create_dir_all(&repo).unwrap();
    let buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"seen event=$CODEBUILD_WEBHOOK_EVENT trigger=$CODEBUILD_WEBHOOK_TRIGGER head=$CODEBUILD_WEBHOOK_HEAD_REF base=${CODEBUILD_WEBHOOK_BASE_REF:-none} prev=${CODEBUILD_WEBHOOK_PREV_COMMIT:-none} actor=$CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID sv=$CODEBUILD_SOURCE_VERSION rsv=$CODEBUILD_RESOLVED_SOURCE_VERSION by=$CODEBUILD_INITIATOR\"\n      - echo \"file $(cat which.txt)\"\n";
    std::fs::write(repo.join("buildspec.yml"), buildspec).unwrap();
    std::fs::write(repo.join("which.txt"), "main\n").unwrap();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh").arg("-c").arg(script).current_dir(&repo).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let main = sh(
        "git init -q -b main && git config user.email d@example.com && git config user.name D && git add -A && git commit -qm one && git rev-parse HEAD",
    );
    // A pull request's head, where a forge keeps it.
    let pr_head = sh(
        "git checkout -qb feature && echo feature > which.txt && git commit -qam two && git update-ref refs/pull/1/head HEAD && git checkout -q main && git rev-parse refs/pull/1/head",
    );
    let roots = dir.path().join("repos");
    let s = Server::start_in(dir.path(), &["--local-sources", roots.to_str().unwrap()]);
    let source = json!({"type": "GITHUB", "location": repo.to_str().unwrap()}).to_string();
    s.create_project_from("app", &source, &[]);
    s.create_project("plain", "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n", &[]);
    let groups = json!([
        [{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}],
        [{"type": "EVENT", "pattern": "PULL_REQUEST_CREATED"}, {"type": "BASE_REF", "pattern": "^refs/heads/main$"}]
    ])
    .to_string();
    let secret = s.aws(&["codebuild", "create-webhook", "--project-name", "app", "--filter-groups", &groups])
        ["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let push = |reference: &str, after: &str| {
        json!({"ref": reference, "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "after": after,
               "head_commit": {"message": "one"}, "commits": [], "sender": {"id": 21031067}, "repository": {"name": "app"}})
    };
    let pull_request = json!({"action": "opened", "number": 1, "sender": {"id": 42},
        "pull_request": {"number": 1, "merged": false, "head": {"ref": "feature", "sha": pr_head}, "base": {"ref": "main"}}});
    let deliveries = json!([
        ["app", "ping", "d-0", "good", {"zen": "Keep it logically awesome."}],
        ["app", "push", "d-1", "good", push("refs/heads/main", &main)],
        ["app", "push", "d-1", "good", push("refs/heads/main", &main)],
        ["app", "push", "d-2", "good", push("refs/heads/feature", &pr_head)],
        ["app", "pull_request", "d-3", "good", pull_request],
        ["app", "push", "d-4", "wrong", push("refs/heads/main", &main)],
        ["app", "push", "d-5", "none", push("refs/heads/main", &main)],
        ["app", "push", "d-6", "huge", {}],
        ["app", "issues", "d-7", "good", {"action": "opened"}],
        ["plain", "push", "d-8", "good", push("refs/heads/main", &main)]
    ]);
    let deliveries = deliveries.to_string();
    let answers = s.python(&format!(
        r#"
import hmac, hashlib, urllib.request, urllib.error
secret = {secret:?}.encode()
out = []
for project, event, delivery, how, payload in json.loads({deliveries:?}):
    body = json.dumps(payload).encode() if how != 'huge' else b'x' * (26 << 20)
    headers = {{'Content-Type': 'application/json', 'X-GitHub-Event': event, 'X-GitHub-Delivery': delivery,
               'User-Agent': 'GitHub-Hookshot/044aadd'}}
    if how in ('good', 'huge'):
        headers['X-Hub-Signature-256'] = 'sha256=' + hmac.new(secret, body, hashlib.sha256).hexdigest()
    elif how == 'wrong':
        headers['X-Hub-Signature-256'] = 'sha256=' + hmac.new(b'not the secret', body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(cb.meta.endpoint_url + '/webhooks/' + project, data=body, headers=headers, method='POST')
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            out.append([r.status, json.loads(r.read())])
    except urllib.error.HTTPError as e:
        out.append([e.code, json.loads(e.read() or b'null')])
    except (urllib.error.URLError, ConnectionError) as e:
        # Refused before the body was sent (the server answers 413 from Content-Length and
        # closes): the client's write fails.
        out.append([413, {{'closed': str(e)}}])
print(json.dumps(out))
"#
    ));
    let status = |i: usize| answers[i][0].as_u64().unwrap();
    let build = |i: usize| answers[i][1]["build"].as_str().map(str::to_string);
    assert_eq!((status(0), answers[0][1]["message"].as_str()), (200, Some("pong")), "{answers:#}");
    assert_eq!(status(1), 201, "{answers:#}");
    // The same delivery again: the same build, not a second one.
    assert_eq!((status(2), build(2)), (201, build(1)), "{answers:#}");
    assert_eq!((status(3), build(3)), (202, None), "a push to another branch matches no group: {answers:#}");
    assert_eq!(status(4), 201, "{answers:#}");
    for (i, why) in [(5, "wrong signature"), (6, "no signature")] {
        assert_eq!((status(i), build(i)), (401, None), "{why}: {answers:#}");
    }
    assert_eq!(status(7), 413, "{answers:#}");
    assert_eq!((status(8), build(8)), (202, None), "{answers:#}");
    assert_eq!(status(9), 404, "a project without a webhook: {answers:#}");
    let ids = s.aws(&["codebuild", "list-builds-for-project", "--project-name", "app"])["ids"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 2, "{ids}");

    let pushed = s.wait(&build(1).unwrap(), std::time::Duration::from_secs(120));
    assert_eq!(pushed["buildStatus"], "SUCCEEDED", "{:?}", s.log(&pushed));
    assert_eq!(pushed["initiator"], "GitHub-Hookshot/044aadd");
    let seen = |b: &serde_json::Value| {
        s.log(b).into_iter().filter(|l| l.contains("seen ") || l.contains("file ")).collect::<Vec<_>>()
    };
    let lines = seen(&pushed).join("\n");
    assert!(
        lines.contains(&format!("seen event=PUSH trigger=branch/main head=refs/heads/main base=none prev=6113728f27ae82c7b1a177c8d03f9e96e0adf246 actor=21031067 sv={main} rsv={main} by=GitHub-Hookshot/044aadd")),
        "{lines}"
    );
    let pr = s.wait(&build(4).unwrap(), std::time::Duration::from_secs(120));
    assert_eq!(pr["sourceVersion"], "pr/1");
    let lines = seen(&pr).join("\n");
    assert!(
        lines.contains(&format!("seen event=PULL_REQUEST_CREATED trigger=pr/1 head=refs/heads/feature base=refs/heads/main prev=none actor=42 sv=pr/1 rsv={pr_head}")),
        "{lines}"
    );
    assert!(lines.contains("file feature"), "the pull request's head was built: {lines}");

    // The build's page says how it was started.
    let encoded: String = build(4)
        .unwrap()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let page = s.python(&format!(
        r#"
import urllib.request, http.cookiejar
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
opener.open({page:?}, timeout=60).read()
print(json.dumps(opener.open({url:?} + '/builds/{encoded}', timeout=60).read().decode()))
"#,
        page = s.page,
        url = s.url,
    ));
    let page = page.as_str().unwrap();
    assert!(page.contains("Started by a pull request #1 created: feature into main by account 42"), "{page}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn gitlab_deliveries_carry_the_secret_as_their_token() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repos/app");
    std::fs::create_dir_all(&repo).unwrap();
    let buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"seen event=$CODEBUILD_WEBHOOK_EVENT trigger=$CODEBUILD_WEBHOOK_TRIGGER base=${CODEBUILD_WEBHOOK_BASE_REF:-none} actor=$CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID rsv=$CODEBUILD_RESOLVED_SOURCE_VERSION\"\n";
    std::fs::write(repo.join("buildspec.yml"), buildspec).unwrap();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh").arg("-c").arg(script).current_dir(&repo).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let main = sh(
        "git init -q -b main && git config user.email d@example.com && git config user.name D && git add -A && git commit -qm one && git rev-parse HEAD",
    );
    let feature = sh(
        "git checkout -qb feature && git commit -q --allow-empty -m two && git checkout -q main && git rev-parse feature",
    );
    let roots = dir.path().join("repos");
    let s = Server::start_in(dir.path(), &["--local-sources", roots.to_str().unwrap()]);
    let source = json!({"type": "GITLAB", "location": repo.to_str().unwrap()}).to_string();
    s.create_project_from("app", &source, &[]);
    let secret = s.aws(&["codebuild", "create-webhook", "--project-name", "app"])["webhook"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let push = json!({"object_kind": "push", "ref": "refs/heads/main", "before": "0000000000000000000000000000000000000000",
        "after": main, "checkout_sha": main, "user_id": 4, "project": {"name": "app"}, "commits": []});
    let mr = json!({"object_kind": "merge_request", "user": {"id": 7}, "project": {"name": "app"},
        "object_attributes": {"iid": 3, "action": "open", "source_branch": "feature", "target_branch": "main",
                              "last_commit": {"id": feature, "message": "two"}}});
    let deliveries = json!([
        ["Push Hook", "k-1", "good", push],
        ["Push Hook", "k-1", "good", push],
        ["Merge Request Hook", "k-2", "good", mr],
        ["Push Hook", "k-3", "wrong", push],
        ["Push Hook", "k-4", "none", push],
        ["Pipeline Hook", "k-5", "good", {}]
    ])
    .to_string();
    let answers = s.python(&format!(
        r#"
import urllib.request, urllib.error
out = []
for event, key, how, payload in json.loads({deliveries:?}):
    headers = {{'Content-Type': 'application/json', 'X-Gitlab-Event': event, 'Idempotency-Key': key, 'User-Agent': 'GitLab/17.5.0'}}
    if how == 'good':
        headers['X-Gitlab-Token'] = {secret:?}
    elif how == 'wrong':
        headers['X-Gitlab-Token'] = 'not-the-secret'
    req = urllib.request.Request(cb.meta.endpoint_url + '/webhooks/app', data=json.dumps(payload).encode(), headers=headers, method='POST')
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            out.append([r.status, json.loads(r.read())])
    except urllib.error.HTTPError as e:
        out.append([e.code, json.loads(e.read() or b'null')])
print(json.dumps(out))
"#
    ));
    let status = |i: usize| answers[i][0].as_u64().unwrap();
    let build = |i: usize| answers[i][1]["build"].as_str().map(str::to_string);
    assert_eq!(status(0), 201, "{answers:#}");
    assert_eq!(
        (status(1), build(1)),
        (201, build(0)),
        "a retried delivery (the same Idempotency-Key): {answers:#}"
    );
    assert_eq!(status(2), 201, "{answers:#}");
    assert_eq!((status(3), status(4)), (401, 401), "{answers:#}");
    assert_eq!((status(5), build(5)), (202, None), "{answers:#}");
    let pushed = s.wait(&build(0).unwrap(), std::time::Duration::from_secs(120));
    assert_eq!(pushed["initiator"], "GitLab/17.5.0");
    let seen = |b: &serde_json::Value| {
        s.log(b).into_iter().filter(|l| l.contains("seen ")).collect::<Vec<_>>().join("\n")
    };
    assert!(
        seen(&pushed).contains(&format!("seen event=PUSH trigger=branch/main base=none actor=4 rsv={main}")),
        "{}",
        seen(&pushed)
    );
    let merge_request = s.wait(&build(2).unwrap(), std::time::Duration::from_secs(120));
    assert!(
        seen(&merge_request).contains(&format!(
            "seen event=PULL_REQUEST_CREATED trigger=pr/3 base=refs/heads/main actor=7 rsv={feature}"
        )),
        "{}",
        seen(&merge_request)
    );
}
