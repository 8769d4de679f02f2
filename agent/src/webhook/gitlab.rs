//! GitLab's deliveries (gitlab.com and self-managed), read as CodeBuild reads them (pure):
//!
//! - the secret: GitLab sends the webhook's secret token itself in `X-Gitlab-Token` (GitLab
//!   Docs, "Webhooks": "Secret token"), compared here in constant time;
//! - the event: `X-Gitlab-Event` (`Push Hook`, `Tag Push Hook`, `Merge Request Hook`) and a
//!   merge request's `object_attributes.action` (`open` → PULL_REQUEST_CREATED, `update` with new
//!   commits (`oldrev`) → PULL_REQUEST_UPDATED, `merge` → PULL_REQUEST_MERGED, `close` →
//!   PULL_REQUEST_CLOSED; the CodeBuild User Guide has PULL_REQUEST_REOPENED for GitHub only, so
//!   `reopen` starts nothing, nor does an update that only edits the title);
//! - what the build gets: a push's commit, a merge request's last commit (its merge commit once
//!   merged), and the `CODEBUILD_WEBHOOK_*` variables as for GitHub, with `pr/<iid>` as the
//!   trigger of a merge request.

use serde_json::Value;

use super::filter::{Event, EventKind};
use super::{Delivery, Trigger, text, trigger_of};

/// Whether `header` (`X-Gitlab-Token`) is the webhook's secret.
pub fn signed(secret: &str, header: Option<&str>) -> bool {
    let Some(given) = header else { return false };
    // Constant time in the secret's length: every byte is compared.
    given.len() == secret.len()
        && given.bytes().zip(secret.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Reads a delivery: `event` is `X-Gitlab-Event`, `payload` the JSON body.
pub fn read(event: &str, payload: &Value) -> Delivery {
    match event {
        "Push Hook" | "Tag Push Hook" => push(payload),
        "Merge Request Hook" => merge_request(payload),
        other => Delivery::Ignored(format!("GitLab's `{other}` starts no build")),
    }
}

fn push(p: &Value) -> Delivery {
    let Some(reference) = text(&p["ref"]) else { return Delivery::Ignored("a push without a ref".into()) };
    let after = text(&p["checkout_sha"]).or_else(|| text(&p["after"])).unwrap_or_default();
    if after.is_empty() || after.bytes().all(|b| b == b'0') {
        return Delivery::Ignored(format!("{reference} was deleted"));
    }
    let mut files: Vec<String> = Vec::new();
    for commit in p["commits"].as_array().into_iter().flatten() {
        for list in ["added", "modified", "removed"] {
            for f in commit[list].as_array().into_iter().flatten().filter_map(text) {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    let head_message = p["commits"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| text(&c["id"]).as_deref() == Some(after.as_str()))
        .and_then(|c| text(&c["message"]));
    let event = Event {
        actor_account_id: text(&p["user_id"]),
        repository_name: text(&p["project"]["name"]),
        head_ref: Some(reference.clone()),
        files,
        commit_message: head_message,
        ..Event::new(EventKind::Push)
    };
    let mut variables = vec![
        ("CODEBUILD_WEBHOOK_EVENT".to_string(), "PUSH".to_string()),
        ("CODEBUILD_WEBHOOK_TRIGGER".to_string(), trigger_of(&reference)),
        ("CODEBUILD_WEBHOOK_HEAD_REF".to_string(), reference),
    ];
    variables.extend(text(&p["before"]).map(|b| ("CODEBUILD_WEBHOOK_PREV_COMMIT".to_string(), b)));
    variables.extend(
        event.actor_account_id.clone().map(|a| ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID".to_string(), a)),
    );
    Delivery::Event(Box::new(Trigger { event, source_version: after, variables }))
}

fn merge_request(p: &Value) -> Delivery {
    let mr = &p["object_attributes"];
    let kind = match mr["action"].as_str() {
        Some("open") => EventKind::PullRequestCreated,
        Some("update") if mr["oldrev"].is_string() => EventKind::PullRequestUpdated,
        Some("merge") => EventKind::PullRequestMerged,
        Some("close") => EventKind::PullRequestClosed,
        other => {
            return Delivery::Ignored(format!(
                "a merge request's `{}` starts no build",
                other.unwrap_or("(no action)")
            ));
        }
    };
    let Some(iid) = text(&mr["iid"]) else {
        return Delivery::Ignored("a merge request without an iid".into());
    };
    let head = text(&mr["source_branch"]).map(|b| format!("refs/heads/{b}"));
    let base_ref = text(&mr["target_branch"]).map(|b| format!("refs/heads/{b}"));
    let event = Event {
        actor_account_id: text(&p["user"]["id"]),
        repository_name: text(&p["project"]["name"]),
        head_ref: head.clone(),
        base_ref: base_ref.clone(),
        commit_message: text(&mr["last_commit"]["message"]),
        ..Event::new(kind)
    };
    let merge_commit = text(&mr["merge_commit_sha"]).filter(|_| kind == EventKind::PullRequestMerged);
    let Some(source_version) = merge_commit.clone().or_else(|| text(&mr["last_commit"]["id"])) else {
        return Delivery::Ignored("a merge request without a last commit".into());
    };
    let mut variables = vec![
        ("CODEBUILD_WEBHOOK_EVENT".to_string(), kind.as_str().to_string()),
        ("CODEBUILD_WEBHOOK_TRIGGER".to_string(), format!("pr/{iid}")),
    ];
    variables.extend(head.map(|h| ("CODEBUILD_WEBHOOK_HEAD_REF".to_string(), h)));
    variables.extend(base_ref.map(|b| ("CODEBUILD_WEBHOOK_BASE_REF".to_string(), b)));
    variables.extend(text(&mr["oldrev"]).map(|o| ("CODEBUILD_WEBHOOK_PREV_COMMIT".to_string(), o)));
    variables.extend(merge_commit.map(|m| ("CODEBUILD_WEBHOOK_MERGE_COMMIT".to_string(), m)));
    variables.extend(
        event.actor_account_id.clone().map(|a| ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID".to_string(), a)),
    );
    Delivery::Event(Box::new(Trigger { event, source_version, variables }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn trigger(d: Delivery) -> Trigger {
        match d {
            Delivery::Event(t) => *t,
            other => panic!("not an event: {other:?}"),
        }
    }

    fn var<'a>(t: &'a Trigger, name: &str) -> Option<&'a str> {
        t.variables.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_token_is_the_secret() {
        assert!(signed("s3cret", Some("s3cret")));
        assert!(!signed("s3cret", Some("s3cre")));
        assert!(!signed("s3cret", Some("s3creT")));
        assert!(!signed("s3cret", None));
    }

    #[test]
    fn pushes_tags_and_merge_requests() {
        // The shapes of GitLab Docs, "Webhook events": push, tag and merge request events.
        let push = json!({"object_kind": "push", "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
            "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "ref": "refs/heads/master",
            "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "user_id": 4, "project": {"name": "Diaspora"},
            "commits": [{"id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327", "message": "Update Catalan translation", "added": ["CHANGELOG"], "modified": ["app/controller/application.rb"], "removed": []},
                        {"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "message": "fixed readme", "added": ["CHANGELOG"], "modified": [], "removed": []}]});
        let t = trigger(read("Push Hook", &push));
        assert_eq!(t.event.kind, EventKind::Push);
        assert_eq!(t.source_version, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(t.event.files, ["CHANGELOG", "app/controller/application.rb"]);
        assert_eq!(t.event.commit_message.as_deref(), Some("fixed readme"));
        assert_eq!(t.event.actor_account_id.as_deref(), Some("4"));
        assert_eq!(var(&t, "CODEBUILD_WEBHOOK_TRIGGER"), Some("branch/master"));
        assert_eq!(
            var(&t, "CODEBUILD_WEBHOOK_PREV_COMMIT"),
            Some("95790bf891e76fee5e1747ab589903a6a1f80f22")
        );
        let tag = json!({"object_kind": "tag_push", "ref": "refs/tags/v1.0.0", "before": "0000000000000000000000000000000000000000",
            "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", "checkout_sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", "user_id": 1});
        assert_eq!(
            var(&trigger(read("Tag Push Hook", &tag)), "CODEBUILD_WEBHOOK_TRIGGER"),
            Some("tag/v1.0.0")
        );
        let deleted = json!({"ref": "refs/heads/gone", "after": "0000000000000000000000000000000000000000", "checkout_sha": null});
        assert!(matches!(read("Push Hook", &deleted), Delivery::Ignored(_)));

        let mr = |action: &str, oldrev: Option<&str>| {
            let mut attrs = json!({"iid": 1, "action": action, "source_branch": "ms-viewport", "target_branch": "master",
                "merge_commit_sha": "f2a8c3f8b5b6c4e2a3d1e0f9a8b7c6d5e4f3a2b1",
                "last_commit": {"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "message": "fixed readme"}});
            if let Some(o) = oldrev {
                attrs["oldrev"] = json!(o);
            }
            json!({"object_kind": "merge_request", "user": {"id": 1}, "object_attributes": attrs})
        };
        let opened = trigger(read("Merge Request Hook", &mr("open", None)));
        assert_eq!(opened.event.kind, EventKind::PullRequestCreated);
        assert_eq!(opened.source_version, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(opened.event.base_ref.as_deref(), Some("refs/heads/master"));
        assert_eq!(var(&opened, "CODEBUILD_WEBHOOK_TRIGGER"), Some("pr/1"));
        assert_eq!(var(&opened, "CODEBUILD_WEBHOOK_HEAD_REF"), Some("refs/heads/ms-viewport"));
        let updated = trigger(read("Merge Request Hook", &mr("update", Some("aaaa"))));
        assert_eq!(updated.event.kind, EventKind::PullRequestUpdated);
        assert_eq!(var(&updated, "CODEBUILD_WEBHOOK_PREV_COMMIT"), Some("aaaa"));
        assert!(
            matches!(read("Merge Request Hook", &mr("update", None)), Delivery::Ignored(_)),
            "a title edit"
        );
        assert!(matches!(read("Merge Request Hook", &mr("reopen", None)), Delivery::Ignored(_)));
        let merged = trigger(read("Merge Request Hook", &mr("merge", None)));
        assert_eq!(merged.source_version, "f2a8c3f8b5b6c4e2a3d1e0f9a8b7c6d5e4f3a2b1");
        assert_eq!(
            var(&merged, "CODEBUILD_WEBHOOK_MERGE_COMMIT"),
            Some("f2a8c3f8b5b6c4e2a3d1e0f9a8b7c6d5e4f3a2b1")
        );
        assert_eq!(
            trigger(read("Merge Request Hook", &mr("close", None))).event.kind,
            EventKind::PullRequestClosed
        );
        assert!(matches!(read("Issue Hook", &json!({})), Delivery::Ignored(_)));
    }
}
