//! The Docker client configuration a build gets for ECR (pure): the user's own config (on the
//! host) with an `auths` entry per ECR login, so `docker push <account>.dkr.ecr.…` in a
//! buildspec needs no `docker login`.

use serde_json::{Map, Value, json};

use super::ecr::Login;

/// `existing` (a config.json text, if any) with `logins` added. A credential helper or store
/// would shadow an `auths` entry, so the build's copy drops `credHelpers` entries for these
/// registries and a global `credsStore` (other registries' logins kept in a store are then not
/// seen inside the build; inline `auths` entries are).
pub fn with_logins(existing: Option<&str>, logins: &[Login]) -> Result<String, String> {
    let mut config = match existing {
        Some(text) if !text.trim().is_empty() => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("the Docker config is not a JSON object".into()),
            Err(e) => return Err(format!("the Docker config is not valid JSON: {e}")),
        },
        _ => Map::new(),
    };
    config.remove("credsStore");
    let auths = config.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    for login in logins {
        auths[&login.server] = json!({ "auth": login.basic_auth() });
    }
    if let Some(Value::Object(helpers)) = config.get_mut("credHelpers") {
        for login in logins {
            helpers.remove(&login.server);
        }
    }
    serde_json::to_string_pretty(&Value::Object(config)).map_err(|e| e.to_string())
}

/// Whether a build looks like it uses ECR with Docker: a command or a variable value names an
/// ECR registry (`….dkr.ecr.…`) or runs `aws ecr get-login…`.
pub fn mentions_ecr<'a>(texts: impl IntoIterator<Item = &'a str>) -> bool {
    texts.into_iter().any(|t| t.contains(".dkr.ecr") || t.contains("ecr get-login"))
}

/// Programs that read a Docker config for registry credentials.
const REGISTRY_CLIENTS: &[&str] = &[
    "docker",
    "docker-compose",
    "podman",
    "buildah",
    "skopeo",
    "crane",
    "nerdctl",
    "finch",
    "regctl",
    "oras",
];

/// Whether any command runs a program that logs in to registries with a Docker config: only
/// then is a login worth an AWS call (naming an ECR URI in `imagedefinitions.json` is not).
pub fn runs_registry_client<'a>(commands: impl IntoIterator<Item = &'a str>) -> bool {
    commands.into_iter().any(|c| {
        c.split(|ch: char| ch.is_whitespace() || matches!(ch, ';' | '&' | '|' | '(' | ')' | '`' | '$'))
            .any(|word| REGISTRY_CLIENTS.contains(&word.rsplit('/').next().unwrap_or(word)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(server: &str) -> Login {
        Login { username: "AWS".into(), password: "tok".into(), server: server.into() }
    }

    #[test]
    fn logins_join_the_users_config() {
        let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let existing = r#"{"auths":{"ghcr.io":{"auth":"eA=="}},"credsStore":"desktop","credHelpers":{"123456789012.dkr.ecr.us-east-1.amazonaws.com":"ecr-login","gcr.io":"gcloud"},"proxies":{"default":{"httpProxy":"http://p:3128"}}}"#;
        let out: Value = serde_json::from_str(&with_logins(Some(existing), &[login(ecr)]).unwrap()).unwrap();
        assert_eq!(out["auths"][ecr]["auth"], "QVdTOnRvaw=="); // base64("AWS:tok")
        assert_eq!(out["auths"]["ghcr.io"]["auth"], "eA==");
        assert!(out.get("credsStore").is_none());
        assert_eq!(out["credHelpers"], json!({"gcr.io": "gcloud"}));
        assert_eq!(out["proxies"]["default"]["httpProxy"], "http://p:3128");

        let fresh: Value =
            serde_json::from_str(&with_logins(None, &[login("127.0.0.1:5000")]).unwrap()).unwrap();
        assert_eq!(fresh, json!({"auths": {"127.0.0.1:5000": {"auth": "QVdTOnRvaw=="}}}));
        assert!(with_logins(Some("[1]"), &[]).unwrap_err().contains("not a JSON object"));
        assert!(with_logins(Some("{"), &[]).unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn ecr_mentions() {
        assert!(mentions_ecr(["docker push $AWS_ACCOUNT_ID.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com/web"]));
        assert!(mentions_ecr(["echo", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"]));
        assert!(mentions_ecr([
            "aws ecr get-login-password | docker login --username AWS --password-stdin x"
        ]));
        assert!(!mentions_ecr(["docker push ghcr.io/me/web", "make"]));
    }

    #[test]
    fn registry_clients() {
        let yes = [
            "docker push $REPO:$TAG",
            "aws ecr get-login-password | docker login --username AWS --password-stdin $R",
            "cd app && /usr/bin/podman build -t x .",
            "$(which crane) copy a b",
            "(skopeo copy docker://a docker://b)",
        ];
        for c in yes {
            assert!(runs_registry_client([c]), "{c}");
        }
        let no = [
            "REPOSITORY_URI=$AWS_ACCOUNT_ID.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com/$IMAGE_REPO_NAME",
            "printf '[{\"name\":\"%s\",\"imageUri\":\"%s\"}]' web $REPOSITORY_URI > imagedefinitions.json",
            "echo dockerfile-lint",
            "make docker-image",
        ];
        for c in no {
            assert!(!runs_registry_client([c]), "{c}");
        }
    }
}
