//! Parameter Store and Secrets Manager variables (R-ENV-06, R-ENV-07): what to fetch, how to
//! turn the answers into values, and CodeBuild's failure messages. The AWS calls sit behind
//! [`SecretStore`], so this logic is tested without a network.

use std::collections::HashMap;

use crate::buildspec::parse::split_secret_reference;

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An SSM parameter name (or ARN), decrypted.
    Parameter(String),
    /// `secret-id[:json-key[:version-stage[:version-id]]]`.
    Secret { id: String, json_key: Option<String>, version_stage: Option<String>, version_id: Option<String> },
}

impl SecretRef {
    /// Parses a Secrets Manager reference; empty parts count as absent.
    pub fn secret(reference: &str) -> Self {
        let parts = split_secret_reference(reference);
        let some = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
        SecretRef::Secret {
            id: parts.secret_id.to_string(),
            json_key: some(parts.json_key),
            version_stage: some(parts.version_stage),
            version_id: some(parts.version_id),
        }
    }
}

/// One variable to fill from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRequest {
    pub var: String,
    pub source: SecretRef,
}

/// Errors from a store, already worded for the phase context message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("secret does not exist: {0}")]
    SecretNotFound(String),
    /// Any other service error, as the service worded it (e.g. AccessDeniedException: …).
    #[error("{0}")]
    Service(String),
}

/// The two services a variable's value can come from, named as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    ParameterStore,
    SecretsManager,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::ParameterStore => "AWS Systems Manager Parameter Store",
            Service::SecretsManager => "AWS Secrets Manager",
        })
    }
}

/// Reads parameters and secrets.
#[allow(async_fn_in_trait, reason = "used with concrete types only")]
pub trait SecretStore {
    /// Where the store sends its requests for `service` (a URL), for error messages.
    fn endpoint(&self, service: Service) -> String;

    /// Decrypted values of the parameters that exist, by name. At most 10 names per call.
    async fn parameters(&mut self, names: &[String]) -> Result<HashMap<String, String>, StoreError>;

    /// A secret's string value.
    async fn secret(
        &mut self,
        id: &str,
        stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<String, StoreError>;
}

/// The DOWNLOAD_SOURCE context code for a failed fetch, as CodeBuild logs it.
pub const FETCH_ERROR_CODE: &str = "Decrypted Variables Error";

/// Fetches every request. The first failure is the phase context message: CodeBuild's words
/// when a parameter or secret does not exist (R-ENV-06, `parameter does not exist: <name>`);
/// any other failure is one line naming the variable, the parameter or secret, the service, its
/// endpoint and the cause.
pub async fn resolve<S: SecretStore>(
    store: &mut S,
    requests: &[SecretRequest],
) -> Result<Vec<(String, String)>, String> {
    let mut names: Vec<String> = requests
        .iter()
        .filter_map(|r| match &r.source {
            SecretRef::Parameter(n) => Some(n.clone()),
            SecretRef::Secret { .. } => None,
        })
        .collect();
    names.sort();
    names.dedup();
    let mut params = HashMap::new();
    for batch in names.chunks(10) {
        let fetched = store.parameters(batch).await.map_err(|e| {
            let asked =
                requests.iter().find(|r| matches!(&r.source, SecretRef::Parameter(n) if batch.contains(n)));
            let (var, name) = match asked {
                Some(SecretRequest { var, source: SecretRef::Parameter(name) }) => {
                    (var.as_str(), name.as_str())
                }
                _ => ("", batch[0].as_str()),
            };
            let others = match batch.len() {
                1 => String::new(),
                n => format!(" (and {} more asked with it)", n - 1),
            };
            failure(store, Service::ParameterStore, var, &format!("parameter {name}{others}"), e)
        })?;
        params.extend(fetched);
    }
    let mut secrets: HashMap<(String, Option<String>, Option<String>), String> = HashMap::new();
    let mut values = Vec::new();
    for r in requests {
        let value = match &r.source {
            SecretRef::Parameter(name) => match params.get(name) {
                Some(v) => v.clone(),
                None => return Err(format!("parameter does not exist: {name}")),
            },
            SecretRef::Secret { id, json_key, version_stage, version_id } => {
                let key = (id.clone(), version_stage.clone(), version_id.clone());
                let whole = match secrets.get(&key) {
                    Some(v) => v.clone(),
                    None => {
                        let v = store
                            .secret(id, version_stage.as_deref(), version_id.as_deref())
                            .await
                            .map_err(|e| {
                                failure(store, Service::SecretsManager, &r.var, &format!("secret {id}"), e)
                            })?;
                        secrets.insert(key, v.clone());
                        v
                    }
                };
                match json_key {
                    None => whole,
                    Some(k) => {
                        json_field(&whole, k).ok_or_else(|| format!("secret {id} has no JSON key {k}"))?
                    }
                }
            }
        };
        values.push((r.var.clone(), value));
    }
    Ok(values)
}

/// The message for a failed call: CodeBuild's own words for a missing secret, otherwise one line
/// with everything needed to find the cause.
fn failure<S: SecretStore>(store: &S, service: Service, var: &str, what: &str, e: StoreError) -> String {
    match e {
        StoreError::SecretNotFound(_) => e.to_string(),
        StoreError::Service(cause) => {
            let cause = cause.split_whitespace().collect::<Vec<_>>().join(" ");
            format!(
                "cannot read {what} for variable {var} from {service} at {}: {cause}",
                store.endpoint(service)
            )
        }
    }
}

/// A top-level key of a JSON object secret: strings as they are, other values as JSON text.
fn json_field(secret: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(secret).ok()?;
    match v.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct FakeStore {
        params: HashMap<String, String>,
        secrets: HashMap<String, String>,
        calls: Vec<String>,
        down: bool,
    }

    impl SecretStore for FakeStore {
        fn endpoint(&self, service: Service) -> String {
            format!("https://{service:?}.example")
        }
        async fn parameters(&mut self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
            assert!(names.len() <= 10);
            self.calls.push(format!("GetParameters {}", names.len()));
            if self.down {
                return Err(StoreError::Service("dispatch failure: io error:\n  dns error".into()));
            }
            Ok(names.iter().filter_map(|n| self.params.get(n).map(|v| (n.clone(), v.clone()))).collect())
        }
        async fn secret(
            &mut self,
            id: &str,
            stage: Option<&str>,
            version: Option<&str>,
        ) -> Result<String, StoreError> {
            self.calls.push(format!("GetSecretValue {id} {stage:?} {version:?}"));
            if self.down {
                return Err(StoreError::Service("AccessDeniedException: not allowed".into()));
            }
            self.secrets.get(id).cloned().ok_or_else(|| StoreError::SecretNotFound(id.to_string()))
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn req(var: &str, source: SecretRef) -> SecretRequest {
        SecretRequest { var: var.into(), source }
    }

    #[test]
    fn parameters_are_batched_and_secrets_fetched_once() {
        let mut store = FakeStore::default();
        for i in 0..12 {
            store.params.insert(format!("/p/{i}"), format!("v{i}"));
        }
        store.secrets.insert("db".into(), r#"{"user": "admin", "port": 5432}"#.into());
        let mut requests: Vec<SecretRequest> =
            (0..12).map(|i| req(&format!("P{i}"), SecretRef::Parameter(format!("/p/{i}")))).collect();
        requests.push(req("USER", SecretRef::secret("db:user")));
        requests.push(req("PORT", SecretRef::secret("db:port")));
        requests.push(req("ALL", SecretRef::secret("db")));
        let values = block(resolve(&mut store, &requests)).unwrap();
        assert_eq!(values[0], ("P0".into(), "v0".into()));
        assert_eq!(
            values[12..],
            [
                ("USER".into(), "admin".into()),
                ("PORT".into(), "5432".into()),
                ("ALL".into(), r#"{"user": "admin", "port": 5432}"#.into())
            ]
        );
        assert_eq!(store.calls, ["GetParameters 10", "GetParameters 2", "GetSecretValue db None None"]);
    }

    #[test]
    fn failures_use_codebuild_wording() {
        let mut store = FakeStore::default();
        let missing = [req("X", SecretRef::Parameter("/nope".into()))];
        assert_eq!(block(resolve(&mut store, &missing)).unwrap_err(), "parameter does not exist: /nope");
        let missing = [req("X", SecretRef::secret("gone:key"))];
        assert_eq!(block(resolve(&mut store, &missing)).unwrap_err(), "secret does not exist: gone");
        store.secrets.insert("s".into(), "{}".into());
        let no_key = [req("X", SecretRef::secret("s:k"))];
        assert_eq!(block(resolve(&mut store, &no_key)).unwrap_err(), "secret s has no JSON key k");
    }

    #[test]
    fn other_failures_name_the_variable_the_value_the_service_and_its_endpoint_in_one_line() {
        let mut store = FakeStore { down: true, ..FakeStore::default() };
        let one = [req("TOKEN", SecretRef::Parameter("/ci/token".into()))];
        assert_eq!(
            block(resolve(&mut store, &one)).unwrap_err(),
            "cannot read parameter /ci/token for variable TOKEN from AWS Systems Manager Parameter Store \
             at https://ParameterStore.example: dispatch failure: io error: dns error"
        );
        let two = [req("A", SecretRef::Parameter("/b".into())), req("B", SecretRef::Parameter("/a".into()))];
        assert_eq!(
            block(resolve(&mut store, &two)).unwrap_err(),
            "cannot read parameter /b (and 1 more asked with it) for variable A from AWS Systems Manager \
             Parameter Store at https://ParameterStore.example: dispatch failure: io error: dns error"
        );
        let secret = [req("DB_PASSWORD", SecretRef::secret("prod/db:password"))];
        assert_eq!(
            block(resolve(&mut store, &secret)).unwrap_err(),
            "cannot read secret prod/db for variable DB_PASSWORD from AWS Secrets Manager at \
             https://SecretsManager.example: AccessDeniedException: not allowed"
        );
    }

    #[test]
    fn secret_references_parse_with_empty_parts_absent() {
        assert_eq!(
            SecretRef::secret("s::AWSPREVIOUS"),
            SecretRef::Secret {
                id: "s".into(),
                json_key: None,
                version_stage: Some("AWSPREVIOUS".into()),
                version_id: None
            }
        );
    }
}
