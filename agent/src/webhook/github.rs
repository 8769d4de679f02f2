//! GitHub's deliveries (and GitHub Enterprise's, Gitea's and Forgejo's, which send the same
//! events, payloads and signature), read as CodeBuild reads them (pure):
//!
//! - the signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the webhook's
//!   secret>` (GitHub Docs, "Validating webhook deliveries"), compared in constant time;
//! - the event: `X-GitHub-Event` and, for pull requests, the payload's `action` (the CodeBuild
//!   User Guide, "GitHub webhook events": `opened` → PULL_REQUEST_CREATED, `synchronize` →
//!   PULL_REQUEST_UPDATED, `reopened`, `closed` with `merged` → PULL_REQUEST_MERGED, else
//!   PULL_REQUEST_CLOSED; releases `released` and `prereleased`);
//! - what the build gets: the source version (a push's commit, `pr/<number>` for a pull
//!   request, a merged pull request's merge commit, a release's tag) and the
//!   `CODEBUILD_WEBHOOK_*` variables of the CodeBuild User Guide, "Environment variables in
//!   build environments" (`_EVENT`, `_TRIGGER` as `branch/<name>`, `tag/<name>` or
//!   `pr/<number>`, `_HEAD_REF`, `_BASE_REF`, `_ACTOR_ACCOUNT_ID`, `_PREV_COMMIT`,
//!   `_MERGE_COMMIT`).

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::filter::{Event, EventKind};
use super::{Delivery, Trigger, text, trigger_of};

/// Whether `header` (`X-Hub-Signature-256`) is the signature of `body` with `secret`.
pub fn signed(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("sha256=")) else { return false };
    let Some(given) = hex_bytes(given) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).is_ok()
}

/// The signature GitHub sends for `body` (for tests and stand-ins).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// Reads a delivery: `event` is `X-GitHub-Event`, `payload` the JSON body.
pub fn read(event: &str, payload: &Value) -> Delivery {
    match event {
        "ping" => Delivery::Ping,
        "push" => push(payload),
        "pull_request" => pull_request(payload),
        "release" => release(payload),
        other => Delivery::Ignored(format!("GitHub's `{other}` event starts no build")),
    }
}

fn base(kind: EventKind, payload: &Value) -> Event {
    Event {
        actor_account_id: text(&payload["sender"]["id"]),
        repository_name: text(&payload["repository"]["name"]),
        ..Event::new(kind)
    }
}

fn push(p: &Value) -> Delivery {
    let Some(reference) = text(&p["ref"]) else { return Delivery::Ignored("a push without a ref".into()) };
    let after = text(&p["after"]).unwrap_or_default();
    if p["deleted"] == true || after.bytes().all(|b| b == b'0') {
        return Delivery::Ignored(format!("{reference} was deleted"));
    }
    let mut files: Vec<String> = Vec::new();
    for commit in p["commits"].as_array().into_iter().flatten() {
        for list in ["added", "removed", "modified"] {
            for f in commit[list].as_array().into_iter().flatten().filter_map(text) {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    let event = Event {
        head_ref: Some(reference.clone()),
        files,
        commit_message: text(&p["head_commit"]["message"]),
        ..base(EventKind::Push, p)
    };
    let mut variables = vec![
        ("CODEBUILD_WEBHOOK_EVENT".to_string(), "PUSH".to_string()),
        ("CODEBUILD_WEBHOOK_TRIGGER".to_string(), trigger_of(&reference)),
        ("CODEBUILD_WEBHOOK_HEAD_REF".to_string(), reference),
    ];
    if let Some(before) = text(&p["before"]) {
        variables.push(("CODEBUILD_WEBHOOK_PREV_COMMIT".to_string(), before));
    }
    variables.extend(
        event.actor_account_id.clone().map(|a| ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID".to_string(), a)),
    );
    Delivery::Event(Box::new(Trigger { event, source_version: after, variables }))
}

fn pull_request(p: &Value) -> Delivery {
    let pr = &p["pull_request"];
    let kind = match (p["action"].as_str(), pr["merged"] == true) {
        (Some("opened"), _) => EventKind::PullRequestCreated,
        (Some("synchronize"), _) => EventKind::PullRequestUpdated,
        (Some("reopened"), _) => EventKind::PullRequestReopened,
        (Some("closed"), true) => EventKind::PullRequestMerged,
        (Some("closed"), false) => EventKind::PullRequestClosed,
        (action, _) => {
            return Delivery::Ignored(format!(
                "a pull request's `{}` starts no build",
                action.unwrap_or("(no action)")
            ));
        }
    };
    let Some(number) = text(&p["number"]).or_else(|| text(&pr["number"])) else {
        return Delivery::Ignored("a pull request without a number".into());
    };
    let head = text(&pr["head"]["ref"]).map(|r| format!("refs/heads/{r}"));
    let base_ref = text(&pr["base"]["ref"]).map(|r| format!("refs/heads/{r}"));
    let event = Event { head_ref: head.clone(), base_ref: base_ref.clone(), ..base(kind, p) };
    let trigger = format!("pr/{number}");
    let merge_commit = text(&pr["merge_commit_sha"]).filter(|_| kind == EventKind::PullRequestMerged);
    // A merged pull request builds its merge commit; the others, the pull request's head
    // (`pr/<number>`: refs/pull/<number>/head, fetched from the forge).
    let source_version = merge_commit.clone().unwrap_or_else(|| trigger.clone());
    let mut variables = vec![
        ("CODEBUILD_WEBHOOK_EVENT".to_string(), kind.as_str().to_string()),
        ("CODEBUILD_WEBHOOK_TRIGGER".to_string(), trigger.clone()),
        ("CODEBUILD_SOURCE_VERSION".to_string(), source_version.clone()),
    ];
    variables.extend(head.map(|h| ("CODEBUILD_WEBHOOK_HEAD_REF".to_string(), h)));
    variables.extend(base_ref.map(|b| ("CODEBUILD_WEBHOOK_BASE_REF".to_string(), b)));
    variables.extend(text(&p["before"]).map(|b| ("CODEBUILD_WEBHOOK_PREV_COMMIT".to_string(), b)));
    variables.extend(merge_commit.map(|m| ("CODEBUILD_WEBHOOK_MERGE_COMMIT".to_string(), m)));
    variables.extend(
        event.actor_account_id.clone().map(|a| ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID".to_string(), a)),
    );
    Delivery::Event(Box::new(Trigger { event, source_version, variables }))
}

fn release(p: &Value) -> Delivery {
    let kind = match p["action"].as_str() {
        Some("released") => EventKind::Released,
        Some("prereleased") => EventKind::Prereleased,
        other => {
            return Delivery::Ignored(format!(
                "a release's `{}` starts no build",
                other.unwrap_or("(no action)")
            ));
        }
    };
    let r = &p["release"];
    let Some(tag) = text(&r["tag_name"]) else { return Delivery::Ignored("a release without a tag".into()) };
    let reference = format!("refs/tags/{tag}");
    let event = Event {
        head_ref: Some(reference.clone()),
        tag_name: Some(tag.clone()),
        release_name: text(&r["name"]),
        ..base(kind, p)
    };
    let mut variables = vec![
        ("CODEBUILD_WEBHOOK_EVENT".to_string(), kind.as_str().to_string()),
        ("CODEBUILD_WEBHOOK_TRIGGER".to_string(), trigger_of(&reference)),
        ("CODEBUILD_WEBHOOK_HEAD_REF".to_string(), reference),
    ];
    variables.extend(
        event.actor_account_id.clone().map(|a| ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID".to_string(), a)),
    );
    Delivery::Event(Box::new(Trigger { event, source_version: tag, variables }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn var<'a>(t: &'a Trigger, name: &str) -> Option<&'a str> {
        t.variables.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn trigger(d: Delivery) -> Trigger {
        match d {
            Delivery::Event(t) => *t,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn signatures_as_github_documents_them() {
        // GitHub Docs, "Validating webhook deliveries": secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(signature("It's a Secret to Everybody", b"Hello, World!"), expected);
        assert!(signed("It's a Secret to Everybody", b"Hello, World!", Some(expected)));
        assert!(!signed("another secret", b"Hello, World!", Some(expected)));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World?", Some(expected)));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", None));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", Some("sha1=757107ea")));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", Some("sha256=zz")));
        assert!(!signed("It's a Secret to Everybody", b"Hello, World!", Some("sha256=75710")));
    }

    #[test]
    fn pushes_pull_requests_and_releases() {
        let sender = json!({"id": 21031067, "login": "Codertocat"});
        let push = json!({"ref": "refs/heads/main", "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "after": "9049f1265b7d61be4a8904a9a27120d2064dab3b", "deleted": false,
            "commits": [{"added": ["a.txt"], "removed": [], "modified": ["README.md"]}, {"added": [], "removed": ["a.txt"], "modified": []}],
            "head_commit": {"message": "Update README.md"}, "sender": sender, "repository": {"name": "Hello-World"}});
        let t = trigger(read("push", &push));
        assert_eq!(t.event.kind, EventKind::Push);
        assert_eq!(t.event.files, ["a.txt", "README.md"]);
        assert_eq!(t.event.commit_message.as_deref(), Some("Update README.md"));
        assert_eq!(t.event.repository_name.as_deref(), Some("Hello-World"));
        assert_eq!(t.source_version, "9049f1265b7d61be4a8904a9a27120d2064dab3b");
        assert_eq!(var(&t, "CODEBUILD_WEBHOOK_TRIGGER"), Some("branch/main"));
        assert_eq!(var(&t, "CODEBUILD_WEBHOOK_HEAD_REF"), Some("refs/heads/main"));
        assert_eq!(
            var(&t, "CODEBUILD_WEBHOOK_PREV_COMMIT"),
            Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
        );
        assert_eq!(var(&t, "CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID"), Some("21031067"));
        let tag = json!({"ref": "refs/tags/v1.0", "after": "9049f1265b7d61be4a8904a9a27120d2064dab3b"});
        assert_eq!(var(&trigger(read("push", &tag)), "CODEBUILD_WEBHOOK_TRIGGER"), Some("tag/v1.0"));
        let deleted = json!({"ref": "refs/heads/gone", "after": "0000000000000000000000000000000000000000", "deleted": true});
        assert!(matches!(read("push", &deleted), Delivery::Ignored(_)));

        let pr = |action: &str, merged: bool| {
            json!({"action": action, "number": 2, "before": "aaaa", "sender": sender,
                   "pull_request": {"number": 2, "merged": merged, "merge_commit_sha": "c4295bd74fb0f4fda03689c3df3f2803b658fd85",
                                    "head": {"ref": "changes", "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"},
                                    "base": {"ref": "master"}}})
        };
        let opened = trigger(read("pull_request", &pr("opened", false)));
        assert_eq!(opened.event.kind, EventKind::PullRequestCreated);
        assert_eq!(opened.event.head_ref.as_deref(), Some("refs/heads/changes"));
        assert_eq!(opened.event.base_ref.as_deref(), Some("refs/heads/master"));
        assert_eq!(opened.source_version, "pr/2");
        assert_eq!(var(&opened, "CODEBUILD_SOURCE_VERSION"), Some("pr/2"));
        assert_eq!(var(&opened, "CODEBUILD_WEBHOOK_TRIGGER"), Some("pr/2"));
        assert_eq!(var(&opened, "CODEBUILD_WEBHOOK_BASE_REF"), Some("refs/heads/master"));
        assert_eq!(var(&opened, "CODEBUILD_WEBHOOK_MERGE_COMMIT"), None);
        let kinds: Vec<EventKind> =
            [("synchronize", false), ("reopened", false), ("closed", true), ("closed", false)]
                .into_iter()
                .map(|(a, m)| trigger(read("pull_request", &pr(a, m))).event.kind)
                .collect();
        use EventKind::*;
        assert_eq!(kinds, [PullRequestUpdated, PullRequestReopened, PullRequestMerged, PullRequestClosed]);
        let merged = trigger(read("pull_request", &pr("closed", true)));
        assert_eq!(merged.source_version, "c4295bd74fb0f4fda03689c3df3f2803b658fd85");
        assert_eq!(
            var(&merged, "CODEBUILD_WEBHOOK_MERGE_COMMIT"),
            Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85")
        );
        assert!(matches!(read("pull_request", &pr("labeled", false)), Delivery::Ignored(_)));

        let release = |action: &str| json!({"action": action, "sender": sender, "release": {"tag_name": "v0.0.1", "name": "First"}});
        let released = trigger(read("release", &release("released")));
        assert_eq!((released.event.kind, released.source_version.as_str()), (Released, "v0.0.1"));
        assert_eq!(released.event.release_name.as_deref(), Some("First"));
        assert_eq!(var(&released, "CODEBUILD_WEBHOOK_TRIGGER"), Some("tag/v0.0.1"));
        assert_eq!(trigger(read("release", &release("prereleased"))).event.kind, Prereleased);
        assert!(matches!(read("release", &release("published")), Delivery::Ignored(_)));
        assert_eq!(read("ping", &json!({"zen": "Design for failure."})), Delivery::Ping);
        assert!(matches!(read("issues", &json!({})), Delivery::Ignored(_)));
    }
}
