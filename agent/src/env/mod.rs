//! The build's environment: layers in CodeBuild's precedence (R-ENV-05), the built-in
//! `CODEBUILD_*` variables (§9), and the `--env-file` format (R-LOC-03). Pure: callers pass in
//! the process environment, the clock and the git facts.

pub mod secrets;

use std::fmt;

/// Where a variable came from, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// The image's ENV; on the host, the agent's own environment (R-ENV-03).
    Image,
    /// `CODEBUILD_*`, `AWS_REGION`… set by the agent (§9).
    Builtin,
    /// Buildspec `env/variables` (R-ENV-02: literal).
    Buildspec,
    /// Project `environment.environmentVariables` of type PLAINTEXT.
    Project,
    /// StartBuild `environmentVariablesOverride`: `--env` and `--env-file`.
    Override,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Image => "image",
            Layer::Builtin => "built-in",
            Layer::Buildspec => "buildspec",
            Layer::Project => "project",
            Layer::Override => "override",
        })
    }
}

/// An ordered set of variables where a higher layer replaces a lower one.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: Vec<(String, String, Layer)>,
}

impl Environment {
    /// Sets `name` unless a higher layer already set it.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>, layer: Layer) {
        let name = name.into();
        match self.vars.iter_mut().find(|(n, ..)| *n == name) {
            Some(slot) if slot.2 <= layer => {
                slot.1 = value.into();
                slot.2 = layer;
            }
            Some(_) => {}
            None => self.vars.push((name, value.into(), layer)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().find(|(n, ..)| n == name).map(|(_, v, _)| v.as_str())
    }

    /// Puts `dir` first on `PATH` (for the agent's helper commands), keeping the layer.
    pub fn prepend_path(&mut self, dir: &str) {
        match self.vars.iter_mut().find(|(n, ..)| n == "PATH") {
            Some(slot) => slot.1 = format!("{dir}:{}", slot.1),
            None => self.vars.push((
                "PATH".into(),
                format!("{dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                Layer::Builtin,
            )),
        }
    }

    /// Removes a variable, whatever its layer.
    pub fn remove(&mut self, name: &str) {
        self.vars.retain(|(n, ..)| n != name);
    }

    pub fn layer(&self, name: &str) -> Option<Layer> {
        self.vars.iter().find(|(n, ..)| n == name).map(|(.., l)| *l)
    }

    /// Name/value pairs, in the order they were first set.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.vars.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect()
    }
}

/// Everything that goes into a build's environment, lowest layer first.
pub struct Sources<'a> {
    pub image: Vec<(String, String)>,
    pub builtins: Vec<(String, String)>,
    pub buildspec: Option<&'a crate::buildspec::Env>,
    pub project: &'a [crate::project::ProjectVariable],
    pub overrides: &'a [(String, String)],
}

/// Layers the sources by precedence (R-ENV-05). Variables whose winning value lives in Parameter
/// Store or Secrets Manager are left out of the environment and returned as requests, to be
/// fetched and added before INSTALL.
pub fn layered(src: &Sources<'_>) -> (Environment, Vec<secrets::SecretRequest>) {
    use crate::project::VariableType;
    use secrets::{SecretRef, SecretRequest};
    let mut env = Environment::default();
    let mut wanted: Vec<(SecretRequest, Layer)> = Vec::new();
    for (k, v) in &src.image {
        env.set(k.clone(), v.clone(), Layer::Image);
    }
    for (k, v) in &src.builtins {
        env.set(k.clone(), v.clone(), Layer::Builtin);
    }
    if let Some(b) = src.buildspec {
        for var in &b.variables {
            env.set(var.name.value.clone(), var.value.value.clone(), Layer::Buildspec);
        }
        for var in &b.parameter_store {
            env.set(var.name.value.clone(), String::new(), Layer::Buildspec);
            let source = SecretRef::Parameter(var.value.value.clone());
            wanted.push((SecretRequest { var: var.name.value.clone(), source }, Layer::Buildspec));
        }
        for var in &b.secrets_manager {
            env.set(var.name.value.clone(), String::new(), Layer::Buildspec);
            let source = SecretRef::secret(&var.value.value);
            wanted.push((SecretRequest { var: var.name.value.clone(), source }, Layer::Buildspec));
        }
    }
    for var in src.project {
        env.set(var.name.clone(), var.value.clone(), Layer::Project);
        let source = match var.kind {
            VariableType::Plaintext => continue,
            VariableType::ParameterStore => SecretRef::Parameter(var.value.clone()),
            VariableType::SecretsManager => SecretRef::secret(&var.value),
        };
        wanted.retain(|(r, _)| r.var != var.name);
        wanted.push((SecretRequest { var: var.name.clone(), source }, Layer::Project));
    }
    for (k, v) in src.overrides {
        env.set(k.clone(), v.clone(), Layer::Override);
    }
    let mut requests = Vec::new();
    for (request, layer) in wanted {
        if env.layer(&request.var) == Some(layer) {
            env.remove(&request.var);
            requests.push(request);
        }
    }
    (env, requests)
}

/// Host variables that do not describe the "image" and must not leak into a build: AWS
/// credentials need an explicit opt-in (like `codebuild_build.sh -c`), the agent's own
/// settings and a surrounding CodeBuild's variables describe another build.
pub fn inherit_from_host(name: &str) -> bool {
    !(name.starts_with("AWS_")
        || name.starts_with("CODEBUILD_")
        || name.starts_with("RUNSPEC_")
        || name == "PWD"
        || name == "OLDPWD"
        || name == "SHLVL"
        || name == "_")
}

/// The lowest layer of a service's host build: a clean environment of its own, never the
/// server's (which may hold its credentials): a standard PATH, the build user's HOME, USER and
/// LOGNAME, and the server's locale and time zone.
pub fn clean_host(
    user: Option<(&str, &str)>,
    server: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut vars = vec![(
        "PATH".to_string(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
    )];
    let (name, home) = match user {
        Some((name, home)) => (Some(name.to_string()), Some(home.to_string())),
        None => (server("USER").or_else(|| server("LOGNAME")), server("HOME")),
    };
    if let Some(home) = home {
        vars.push(("HOME".into(), home));
    }
    if let Some(name) = name {
        vars.push(("USER".into(), name.clone()));
        vars.push(("LOGNAME".into(), name));
    }
    for keep in ["LANG", "LC_ALL", "TZ"] {
        if let Some(v) = server(keep) {
            vars.push((keep.into(), v));
        }
    }
    vars
}

/// What the built-in variables are made from.
#[derive(Debug, Clone)]
pub struct BuildFacts<'a> {
    pub project: &'a str,
    pub uuid: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub build_number: Option<u64>,
    pub start_time_ms: u128,
    pub initiator: &'a str,
    pub src_dir: &'a str,
    /// `(identifier, dir)` of every secondary source.
    pub secondary_dirs: &'a [(String, String)],
    pub image: Option<&'a str>,
    /// git HEAD of the primary source, when it is a git checkout.
    pub resolved_source_version: Option<&'a str>,
    pub source_repo_url: Option<&'a str>,
    /// A webhook build's `CODEBUILD_WEBHOOK_*` (and `CODEBUILD_SOURCE_VERSION` for a pull
    /// request: `pr/<number>`); last, so they win.
    pub webhook: &'a [(String, String)],
}

impl BuildFacts<'_> {
    pub fn build_id(&self) -> String {
        format!("{}:{}", self.project, self.uuid)
    }

    pub fn build_arn(&self) -> String {
        format!("arn:aws:codebuild:{}:{}:build/{}", self.region, self.account, self.build_id())
    }

    pub fn project_arn(&self) -> String {
        format!("arn:aws:codebuild:{}:{}:project/{}", self.region, self.account, self.project)
    }
}

/// The documented built-ins of §9, with the local agent's choices where the service has no
/// local meaning (R-LOC-04).
pub fn builtins(f: &BuildFacts<'_>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("AWS_DEFAULT_REGION".into(), f.region.into()),
        ("AWS_REGION".into(), f.region.into()),
        ("CODEBUILD_BATCH_BUILD_IDENTIFIER".into(), String::new()),
        ("CODEBUILD_BUILD_ARN".into(), f.build_arn()),
        ("CODEBUILD_BUILD_ID".into(), f.build_id()),
        ("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into()),
        ("CODEBUILD_INITIATOR".into(), f.initiator.into()),
        ("CODEBUILD_KMS_KEY_ID".into(), format!("arn:aws:kms:{}:{}:alias/aws/s3", f.region, f.account)),
        ("CODEBUILD_LOG_PATH".into(), f.uuid.into()),
        ("CODEBUILD_PROJECT_ARN".into(), f.project_arn()),
        ("CODEBUILD_SRC_DIR".into(), f.src_dir.into()),
        ("CODEBUILD_START_TIME".into(), f.start_time_ms.to_string()),
        ("CODEBUILD_LOCAL_BUILD".into(), "true".into()),
        ("CODEBUILD_CI".into(), "false".into()),
        ("CODEBUILD_LAST_EXIT".into(), "0".into()),
    ];
    if let Some(n) = f.build_number {
        v.push(("CODEBUILD_BUILD_NUMBER".into(), n.to_string()));
    }
    if let Some(image) = f.image {
        v.push(("CODEBUILD_BUILD_IMAGE".into(), image.into()));
    }
    if let Some(sha) = f.resolved_source_version {
        v.push(("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), sha.into()));
        v.push(("CODEBUILD_SOURCE_VERSION".into(), sha.into()));
    }
    if let Some(url) = f.source_repo_url {
        v.push(("CODEBUILD_SOURCE_REPO_URL".into(), url.into()));
    }
    for (id, dir) in f.secondary_dirs {
        v.push((format!("CODEBUILD_SRC_DIR_{id}"), dir.clone()));
    }
    for (name, value) in f.webhook {
        v.retain(|(n, _)| n != name);
        v.push((name.clone(), value.clone()));
    }
    v
}

/// One problem in an env file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EnvFileError {
    pub line: usize,
    pub message: String,
}

/// Parses the local agent's env file (R-LOC-03): `NAME=VALUE` per line, `#` comments, blank
/// lines ignored, quotes kept as part of the value.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, EnvFileError> {
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(EnvFileError {
                line: i + 1,
                message: format!("expected NAME=VALUE, found `{line}`"),
            });
        };
        let name = name.trim();
        if !crate::buildspec::parse::is_identifier(name) {
            return Err(EnvFileError { line: i + 1, message: format!("`{name}` is not a variable name") });
        }
        vars.push((name.to_string(), value.to_string()));
    }
    Ok(vars)
}

/// Parses `--env NAME=VALUE`.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("expected NAME=VALUE, found `{text}`"))?;
    if !crate::buildspec::parse::is_identifier(name) {
        return Err(format!("`{name}` is not a variable name"));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_host_build_starts_from_a_clean_environment() {
        let server = |k: &str| match k {
            "AWS_SECRET_ACCESS_KEY" => Some("server-secret".to_string()),
            "DATABASE_URL" => Some("postgres://server".to_string()),
            "HOME" => Some("/root".to_string()),
            "USER" => Some("root".to_string()),
            "LANG" => Some("C.UTF-8".to_string()),
            _ => None,
        };
        let names = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        let as_builder = clean_host(Some(("builder", "/home/builder")), &server);
        assert_eq!(names(&as_builder), ["PATH", "HOME", "USER", "LOGNAME", "LANG"]);
        assert!(as_builder.contains(&("HOME".into(), "/home/builder".into())));
        let as_server = clean_host(None, &server);
        assert!(as_server.contains(&("HOME".into(), "/root".into())));
        assert!(!as_server.iter().any(|(_, v)| v.contains("server")), "{as_server:?}");
    }

    #[test]
    fn precedence_override_project_buildspec_image() {
        // R-ENV-05: override > project > buildspec > image, whatever order they are set in.
        let mut env = Environment::default();
        env.set("A", "image", Layer::Image);
        env.set("A", "override", Layer::Override);
        env.set("A", "buildspec", Layer::Buildspec);
        env.set("A", "project", Layer::Project);
        env.set("B", "image", Layer::Image);
        env.set("B", "buildspec", Layer::Buildspec);
        env.set("C", "image", Layer::Image);
        assert_eq!(env.get("A"), Some("override"));
        assert_eq!(env.get("B"), Some("buildspec"), "R-ENV-03: buildspec replaces the image");
        assert_eq!(env.get("C"), Some("image"));
        assert_eq!(env.layer("A"), Some(Layer::Override));
    }

    #[test]
    fn secret_backed_variables_follow_precedence() {
        use crate::project::{ProjectVariable, VariableType};
        let spec = crate::buildspec::parse(
            "b.yml",
            "version: 0.2\nenv:\n  parameter-store:\n    DB: /db\n    TOKEN: /token\n  secrets-manager:\n    KEY: s:k\n",
        )
        .buildspec
        .unwrap();
        let project =
            [ProjectVariable { name: "TOKEN".into(), value: "plain".into(), kind: VariableType::Plaintext }];
        let overrides = [("KEY".to_string(), "override".to_string())];
        let (env, requests) = layered(&Sources {
            image: vec![("DB".into(), "image".into())],
            builtins: Vec::new(),
            buildspec: Some(&spec.env),
            project: &project,
            overrides: &overrides,
        });
        // DB comes from Parameter Store; TOKEN and KEY are overridden by higher layers.
        assert_eq!(requests.iter().map(|r| r.var.as_str()).collect::<Vec<_>>(), ["DB"]);
        assert_eq!(env.get("DB"), None, "fetched later, not in the initial state");
        assert_eq!(env.get("TOKEN"), Some("plain"));
        assert_eq!(env.get("KEY"), Some("override"));
    }

    #[test]
    fn env_file_rules() {
        let text = "# comment\n\nA=1\nB=\"quoted\"\nC=x=y\n  D=spaced \n";
        let vars = parse_env_file(text).unwrap();
        assert_eq!(
            vars,
            [("A", "1"), ("B", "\"quoted\""), ("C", "x=y"), ("D", "spaced ")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(parse_env_file("A=1\nnope\n").unwrap_err().line, 2);
        assert!(parse_env_file("1A=x").is_err());
    }

    #[test]
    fn builtin_formats() {
        let facts = BuildFacts {
            project: "app",
            uuid: "0b5c1e0e-6c5e-4a4e-9d55-0d6f1b2c3d4e",
            region: "eu-west-1",
            account: "000000000000",
            build_number: Some(7),
            start_time_ms: 1_763_000_000_123,
            initiator: "alice",
            src_dir: "/w/src",
            secondary_dirs: &[("lib".into(), "/w/secSrc/lib".into())],
            image: None,
            resolved_source_version: Some("abc123"),
            source_repo_url: None,
            webhook: &[],
        };
        let vars = builtins(&facts);
        let get = |n: &str| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("CODEBUILD_BUILD_ID"), Some("app:0b5c1e0e-6c5e-4a4e-9d55-0d6f1b2c3d4e"));
        assert_eq!(
            get("CODEBUILD_BUILD_ARN"),
            Some("arn:aws:codebuild:eu-west-1:000000000000:build/app:0b5c1e0e-6c5e-4a4e-9d55-0d6f1b2c3d4e")
        );
        assert_eq!(get("CODEBUILD_START_TIME").map(str::len), Some(13));
        assert_eq!(get("CODEBUILD_SRC_DIR_lib"), Some("/w/secSrc/lib"));
        assert_eq!(get("CODEBUILD_BUILD_NUMBER"), Some("7"));
        assert_eq!(get("AWS_REGION"), get("AWS_DEFAULT_REGION"));
        assert_eq!(get("CODEBUILD_RESOLVED_SOURCE_VERSION"), Some("abc123"));
    }

    #[test]
    fn host_credentials_are_not_inherited() {
        for name in ["AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "CODEBUILD_BUILD_ID", "RUNSPEC_X", "PWD"] {
            assert!(!inherit_from_host(name), "{name}");
        }
        for name in ["PATH", "HOME", "LANG"] {
            assert!(inherit_from_host(name), "{name}");
        }
    }
}
