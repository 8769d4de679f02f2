//! YAML tree → [`Buildspec`], collecting every problem on the way (R-YAML-*, §3–§12).
//!
//! A hand-written walk rather than serde: it keeps spans, reports all problems in one pass, and
//! says "expected a list of commands, found a mapping" instead of a generic type error.

use std::sync::Arc;

use super::issue::{Diagnostics, Issue};
use super::model::*;
use super::yaml::{self, Node, NodeKind, Span};

/// The result of reading one buildspec: the model when there is no blocking error, and every
/// problem found.
#[derive(Debug)]
pub struct Parsed {
    pub buildspec: Option<Buildspec>,
    pub diagnostics: Diagnostics,
}

/// Parses and validates buildspec text. `file` is only used to name the file in diagnostics.
pub fn parse(file: impl Into<String>, src: &str) -> Parsed {
    let mut cx = Cx { src, issues: Vec::new(), version: Version::V0_2, unknown: Vec::new() };
    let buildspec = match yaml::parse(src) {
        Err(e) => {
            cx.issues.push(syntax_issue(src, &e));
            None
        }
        Ok(None) => {
            cx.issues.push(
                Issue::error("empty", "the buildspec is empty", Span::new(0, 0), "nothing here")
                    .help("start with `version: 0.2` and a `phases:` section")
                    .codebuild("invalid buildspec `version` specified: , see documentation"),
            );
            None
        }
        Ok(Some(root)) => cx.buildspec(&root),
    };
    let blocking = cx.issues.iter().any(|i| i.is_error() && !is_deferred(i));
    // Report in file order, whatever order the checks ran in.
    cx.issues.sort_by_key(|i| i.span.start);
    Parsed {
        buildspec: if blocking { None } else { buildspec },
        diagnostics: Diagnostics {
            domain: "buildspec",
            file: file.into(),
            source: Arc::from(src),
            issues: cx.issues,
        },
    }
}

/// Issue codes that CodeBuild reports at UPLOAD_ARTIFACTS (R-ART-06), not at DOWNLOAD_SOURCE:
/// the build still runs, and fails when it gets there.
pub const DEFERRED_CODES: &[&str] = &["no-primary-artifacts"];

pub fn is_deferred(issue: &Issue) -> bool {
    DEFERRED_CODES.contains(&issue.code)
}

fn syntax_issue(src: &str, e: &yaml::SyntaxError) -> Issue {
    let line_text = src.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
    let indent: String = line_text.chars().take_while(|c| c.is_whitespace()).collect();
    let mut issue = Issue::error(
        "yaml-syntax",
        format!("invalid YAML: {}", e.message),
        Span::new(e.offset, e.offset),
        "here",
    )
    .codebuild(format!("yaml: line {}: {}", e.line, e.message));
    if indent.contains('\t') || line_text.trim_start().starts_with('\t') {
        issue = issue.help("YAML does not allow tabs for indentation: indent with spaces");
    } else if e.message.contains("mapping values are not allowed") {
        issue = issue.help("a value that contains `: ` must be quoted, e.g. - \"echo key: value\"");
    }
    issue
}

struct Cx<'s> {
    src: &'s str,
    issues: Vec<Issue>,
    version: Version,
    /// Unknown keys as (section, key), for the build log.
    unknown: Vec<(String, String)>,
}

/// The shells of CodeBuild's Windows images.
const WINDOWS_SHELLS: &[&str] = &["powershell", "powershell.exe", "pwsh", "pwsh.exe", "cmd.exe"];

const TOP_KEYS: &[&str] =
    &["version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"];
const PHASE_KEYS: &[&str] = &["run-as", "on-failure", "commands", "finally", "runtime-versions"];
const ENV_KEYS: &[&str] = &[
    "shell",
    "variables",
    "parameter-store",
    "secrets-manager",
    "exported-variables",
    "git-credential-helper",
];
const ARTIFACT_KEYS: &[&str] = &[
    "files",
    "name",
    "discard-paths",
    "base-directory",
    "exclude-paths",
    "enable-symlinks",
    "s3-prefix",
    "secondary-artifacts",
];
const CACHE_KEYS: &[&str] = &["paths", "key", "fallback-keys", "action"];
const REPORT_KEYS: &[&str] = &["files", "base-directory", "discard-paths", "file-format"];
const REPORT_FORMATS: &[&str] = &[
    "CUCUMBERJSON",
    "JUNITXML",
    "NUNITXML",
    "NUNIT3XML",
    "TESTNGXML",
    "VISUALSTUDIOTRX",
    "CLOVERXML",
    "COBERTURAXML",
    "JACOCOXML",
    "SIMPLECOV",
];

impl Cx<'_> {
    fn error(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    fn buildspec(&mut self, root: &Node) -> Option<Buildspec> {
        self.reject_custom_tags(root);
        let entries = match &root.kind {
            NodeKind::Map(entries) => entries,
            _ => {
                self.error(
                    Issue::error(
                        "not-a-mapping",
                        format!("expected a mapping of buildspec keys, found {}", root.kind_name()),
                        root.span,
                        "not a mapping",
                    )
                    .help("a buildspec starts with `version: 0.2`"),
                );
                return None;
            }
        };
        let entries = self.keys(entries, TOP_KEYS, "top-level key", &["environment_variables"], "root");

        let version = match entries.get("version") {
            Some((_, v)) => self.version_of(v),
            None => {
                self.error(
                    Issue::error(
                        "missing-version",
                        "missing required key `version`",
                        Span::new(0, 0),
                        "add `version: 0.2`",
                    )
                    .help("add `version: 0.2` as the first line")
                    .codebuild("invalid buildspec `version` specified: , see documentation"),
                );
                None
            }
        };
        self.version = version.unwrap_or(Version::V0_2);

        let run_as = entries.get("run-as").and_then(|(_, v)| self.user(v));
        let mut env = entries.get("env").map(|(_, v)| self.env(v)).unwrap_or_default();
        if let Some((k, v)) = entries.get("environment_variables") {
            self.v0_1_environment_variables(k, v, &mut env);
        }
        let proxy = entries.get("proxy").map(|(_, v)| self.proxy(v)).unwrap_or_default();
        let batch = entries.get("batch").and_then(|(_, v)| self.batch(v));
        let phases = entries.get("phases").map(|(_, v)| self.phases(v)).unwrap_or_default();
        let reports = entries.get("reports").map(|(_, v)| self.reports(v)).unwrap_or_default();
        let artifacts = entries.get("artifacts").and_then(|(k, v)| self.artifacts(k, v));
        let cache = entries.get("cache").and_then(|(_, v)| self.cache(v));

        let unknown_keys = std::mem::take(&mut self.unknown);
        Some(Buildspec {
            version: version?,
            run_as,
            env,
            proxy,
            batch,
            phases,
            reports,
            artifacts,
            cache,
            unknown_keys,
        })
    }

    /// Custom tags (`!Ref`, `!Sub`) mean a CloudFormation/SAM template was given as the buildspec.
    fn reject_custom_tags(&mut self, node: &Node) {
        if let Some(tag) = &node.tag {
            self.error(
                Issue::error("custom-tag", format!("unsupported YAML tag `{tag}`"), node.span, "custom tag")
                    .help("buildspecs use plain YAML; a CloudFormation or SAM template is not a buildspec")
                    .codebuild("wrong number of container tags, expected 1"),
            );
        }
        match &node.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => items.iter().for_each(|n| self.reject_custom_tags(n)),
            NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
                self.reject_custom_tags(k);
                self.reject_custom_tags(v);
            }),
        }
    }

    /// Indexes a mapping by key: duplicate keys are errors, unknown keys warnings (R-YAML-03
    /// is [OPEN]; runspec warns and ignores them, with the span). `legacy` keys are accepted
    /// silently; the caller handles them.
    fn keys<'a>(
        &mut self,
        entries: &'a [(Node, Node)],
        allowed: &[&str],
        what: &str,
        legacy: &[&str],
        section: &str,
    ) -> Keyed<'a> {
        let mut keyed = Keyed(Vec::new());
        for (k, v) in entries {
            let Some(name) = self.key_name(k) else {
                continue;
            };
            if keyed.get(name).is_some() {
                self.error(
                    Issue::error(
                        "duplicate-key",
                        format!("duplicate key `{name}`"),
                        k.span,
                        "defined again here",
                    )
                    .help("YAML keeps only one value per key: merge the two entries")
                    .codebuild(format!("mapping key \"{name}\" already defined")),
                );
                continue;
            }
            if !allowed.contains(&name) && !legacy.contains(&name) {
                self.unknown.push((section.to_string(), name.to_string()));
                let mut issue = Issue::warning(
                    "unknown-key",
                    format!("unknown {what} `{name}` is ignored"),
                    k.span,
                    "not a buildspec key",
                );
                if let Some(s) = suggest(name, allowed) {
                    issue = issue.help(format!("did you mean `{s}`?"));
                } else {
                    issue = issue.help(format!("expected one of: {}", allowed.join(", ")));
                }
                self.error(issue);
                continue;
            }
            keyed.0.push((name, k, v));
        }
        keyed
    }

    fn key_name<'a>(&mut self, k: &'a Node) -> Option<&'a str> {
        match &k.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => {
                self.error(Issue::error(
                    "bad-key",
                    format!("a key must be a plain name, found {}", k.kind_name()),
                    k.span,
                    "not a name",
                ));
                None
            }
        }
    }

    fn version_of(&mut self, v: &Node) -> Option<Version> {
        let text = v.as_scalar().unwrap_or("");
        match text {
            "0.2" => Some(Version::V0_2),
            "0.1" => Some(Version::V0_1),
            _ => {
                self.error(
                    Issue::error(
                        "bad-version",
                        format!("unsupported buildspec version `{text}`"),
                        v.span,
                        "not 0.1 or 0.2",
                    )
                    .help("use `version: 0.2` (0.1 runs every command in a separate shell)")
                    .codebuild(format!("invalid buildspec `version` specified: {text}, see documentation")),
                );
                None
            }
        }
    }

    /// A scalar taken as text, as CodeBuild's agent reads it into a string: `1.10` stays `1.10`.
    fn string(&mut self, v: &Node, what: &str) -> Option<Spanned<String>> {
        match &v.kind {
            NodeKind::Scalar { value, .. } if !v.is_null() => Some(Spanned::new(value.clone(), v.span)),
            _ => {
                self.error(Issue::error(
                    "wrong-type",
                    format!("{what} must be a string, found {}", v.kind_name()),
                    v.span,
                    "expected a string",
                ));
                None
            }
        }
    }

    /// Like [`Self::string`] but null becomes the empty string (`KEY:` with no value).
    fn string_or_empty(&mut self, v: &Node, what: &str) -> Option<Spanned<String>> {
        if v.is_null() {
            return Some(Spanned::new(String::new(), v.span));
        }
        self.string(v, what)
    }

    fn user(&mut self, v: &Node) -> Option<Spanned<String>> {
        let user = self.string(v, "`run-as`")?;
        let valid = !user.is_empty()
            && user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
        if !valid {
            self.error(
                Issue::error(
                    "bad-user",
                    format!("`{}` is not a Linux user name", user.value),
                    v.span,
                    "not a user name",
                )
                .help("`run-as` takes a user name such as `codebuild-user`"),
            );
            return None;
        }
        Some(user)
    }

    /// YAML 1.1 booleans as the reference uses them: `yes`/`no` and `true`/`false` (R-YAML-04).
    fn yes_no(&mut self, v: &Node, what: &str) -> bool {
        let text = v.as_scalar().unwrap_or("");
        match text {
            "yes" | "Yes" | "YES" | "y" | "Y" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => true,
            "no" | "No" | "NO" | "n" | "N" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => false,
            _ if v.is_null() => false,
            _ => {
                self.error(
                    Issue::error(
                        "bad-bool",
                        format!("{what} must be yes or no, found `{text}`"),
                        v.span,
                        "expected yes or no",
                    )
                    .help(format!("write `{what}: yes` or `{what}: no`")),
                );
                false
            }
        }
    }

    fn list<'a>(&mut self, v: &'a Node, what: &str) -> &'a [Node] {
        match &v.kind {
            NodeKind::Seq(items) => items,
            _ if v.is_null() => &[],
            _ => {
                self.error(
                    Issue::error(
                        "wrong-type",
                        format!("{what} must be a list, found {}", v.kind_name()),
                        v.span,
                        "expected a list",
                    )
                    .help(format!("write each entry on its own line under `{what}:`, starting with `- `")),
                );
                &[]
            }
        }
    }

    /// A list of strings. A single string is taken as a one-entry list, as CodeBuild does: AWS's
    /// own ECS tutorial writes `files: imagedefinitions.json`.
    fn string_list(&mut self, v: &Node, what: &str) -> Vec<Spanned<String>> {
        if let NodeKind::Scalar { .. } = v.kind
            && !v.is_null()
        {
            return self.string(v, what).into_iter().collect();
        }
        let items = self.list(v, what);
        items.iter().filter_map(|item| self.string(item, &format!("each entry of {what}"))).collect()
    }

    fn map<'a>(&mut self, v: &'a Node, what: &str) -> &'a [(Node, Node)] {
        match &v.kind {
            NodeKind::Map(entries) => entries,
            _ if v.is_null() => &[],
            _ => {
                self.error(Issue::error(
                    "wrong-type",
                    format!("{what} must be a mapping, found {}", v.kind_name()),
                    v.span,
                    "expected `key: value` entries",
                ));
                &[]
            }
        }
    }

    fn env(&mut self, v: &Node) -> Env {
        let entries = self.map(v, "`env`");
        let keyed = self.keys(entries, ENV_KEYS, "`env` key", &["plaintext"], "env");
        let mut env = Env::default();
        if let Some((_, v)) = keyed.get("shell") {
            env.shell = self.shell(v);
            env.shell_text = v.as_scalar().map(str::to_string);
        }
        if let Some((_, v)) = keyed.get("variables") {
            env.variables = self.vars(v, "`env/variables`");
        }
        if let Some((k, v)) = keyed.get("plaintext") {
            if self.version == Version::V0_2 {
                self.error(
                    Issue::warning(
                        "legacy-key",
                        "`plaintext` is the version 0.1 name of `variables`",
                        k.span,
                        "0.1 key",
                    )
                    .help("rename it to `variables`"),
                );
            }
            env.variables.extend(self.vars(v, "`env/plaintext`"));
        }
        if let Some((_, v)) = keyed.get("parameter-store") {
            env.parameter_store = self.vars(v, "`env/parameter-store`");
        }
        if let Some((_, v)) = keyed.get("secrets-manager") {
            env.secrets_manager = self.vars(v, "`env/secrets-manager`");
            for var in &env.secrets_manager.clone() {
                self.secret_reference(var);
            }
        }
        if let Some((_, v)) = keyed.get("exported-variables") {
            env.exported_variables = self.string_list(v, "`env/exported-variables`");
            for name in env.exported_variables.clone() {
                if !is_identifier(&name) {
                    self.error(Issue::error(
                        "bad-variable-name",
                        format!("`{}` is not a variable name", name.value),
                        name.span,
                        "not a name",
                    ));
                } else if name.starts_with("AWS_") {
                    self.error(
                        Issue::warning("unexportable", format!("`{}` cannot be exported: names starting with AWS_ are not exportable", name.value), name.span, "dropped")
                            .help("CodeBuild does not export AWS_* variables (R-ENV-09); copy the value into another name"),
                    );
                }
            }
        }
        if let Some((_, v)) = keyed.get("git-credential-helper") {
            env.git_credential_helper = self.yes_no(v, "git-credential-helper");
        }
        self.check_duplicate_names(&env);
        env
    }

    /// Version 0.1's `environment_variables: {plaintext: {...}}` (R-SH-21).
    fn v0_1_environment_variables(&mut self, k: &Node, v: &Node, env: &mut Env) {
        if self.version == Version::V0_2 {
            self.error(
                Issue::warning(
                    "legacy-key",
                    "`environment_variables` is the version 0.1 name of `env`",
                    k.span,
                    "0.1 key",
                )
                .help("rename it to `env` and `plaintext` to `variables`"),
            );
        }
        let entries = self.map(v, "`environment_variables`");
        let keyed = self.keys(
            entries,
            &["plaintext", "parameter-store"],
            "`environment_variables` key",
            &[],
            "environment_variables",
        );
        if let Some((_, v)) = keyed.get("plaintext") {
            env.variables.extend(self.vars(v, "`environment_variables/plaintext`"));
        }
        if let Some((_, v)) = keyed.get("parameter-store") {
            env.parameter_store.extend(self.vars(v, "`environment_variables/parameter-store`"));
        }
    }

    fn shell(&mut self, v: &Node) -> Option<Spanned<Shell>> {
        let text = self.string(v, "`env/shell`")?;
        let shell = match text.as_str() {
            "bash" | "/bin/bash" => Shell::Bash,
            "sh" | "/bin/sh" => Shell::Sh,
            // Valid for CodeBuild's Windows images: the buildspec is fine, runspec cannot run it.
            w if WINDOWS_SHELLS.contains(&w.to_ascii_lowercase().as_str()) => {
                self.error(
                    Issue::warning(
                        "windows-build",
                        format!("`env/shell: {w}` is for a Windows build; runspec runs Linux builds"),
                        v.span,
                        "a Windows shell",
                    )
                    .help("`runspec run` fails this build in DOWNLOAD_SOURCE; on Linux, `env/shell` is `bash` or `/bin/sh`"),
                );
                Shell::Windows
            }
            other => {
                self.error(
                    Issue::error("bad-shell", format!("unsupported shell `{other}`"), v.span, "not a shell CodeBuild knows")
                        .help("on Linux, `env/shell` is `bash` or `/bin/sh`; on Windows, `powershell.exe`, `pwsh` or `cmd.exe`"),
                );
                return None;
            }
        };
        Some(Spanned::new(shell, v.span))
    }

    fn vars(&mut self, v: &Node, what: &str) -> Vec<EnvVar> {
        let entries = self.map(v, what);
        let mut vars = Vec::new();
        for (k, val) in entries {
            let Some(name) = self.string(k, "a variable name") else {
                continue;
            };
            if !is_identifier(&name) {
                self.error(
                    Issue::error(
                        "bad-variable-name",
                        format!("`{}` is not a valid variable name", name.value),
                        k.span,
                        "not a shell name",
                    )
                    .help("use letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            if name.starts_with("CODEBUILD_") {
                self.error(
                    Issue::warning(
                        "reserved-variable",
                        format!(
                            "`{}` is reserved: names starting with CODEBUILD_ are set by the build",
                            name.value
                        ),
                        k.span,
                        "ignored",
                    )
                    .help("pick another name; runspec keeps the built-in value (R-ENV-04)"),
                );
                continue;
            }
            if let NodeKind::Seq(_) | NodeKind::Map(_) = val.kind {
                self.error(
                    Issue::error(
                        "wrong-type",
                        format!("the value of `{}` must be a string, found {}", name.value, val.kind_name()),
                        val.span,
                        "expected a string",
                    )
                    .help("quote the whole value"),
                );
                continue;
            }
            let Some(value) = self.string_or_empty(val, "a variable value") else {
                continue;
            };
            vars.push(EnvVar { name, value });
        }
        vars
    }

    fn check_duplicate_names(&mut self, env: &Env) {
        let mut seen: Vec<&str> = Vec::new();
        let all = env.variables.iter().chain(&env.parameter_store).chain(&env.secrets_manager);
        let mut dups = Vec::new();
        for var in all {
            if seen.contains(&var.name.as_str()) {
                dups.push(var.name.clone());
            }
            seen.push(&var.name);
        }
        for name in dups {
            self.error(Issue::error(
                "duplicate-variable",
                format!("variable `{}` is defined more than once in `env`", name.value),
                name.span,
                "defined again",
            ));
        }
    }

    /// `secret-id[:json-key[:version-stage[:version-id]]]`, stage and id not both (R-ENV-07).
    /// An ARN secret-id holds colons of its own: `arn:aws:secretsmanager:region:acct:secret:name`.
    fn secret_reference(&mut self, var: &EnvVar) {
        let parts = split_secret_reference(&var.value);
        if parts.secret_id.is_empty() {
            self.error(
                Issue::error("bad-secret", "empty secret id", var.value.span, "no secret id")
                    .help("write `secret-id[:json-key[:version-stage[:version-id]]]`"),
            );
        } else if parts.version_stage.is_some_and(|s| !s.is_empty())
            && parts.version_id.is_some_and(|s| !s.is_empty())
        {
            self.error(
                Issue::error(
                    "bad-secret",
                    "give a version stage or a version id, not both",
                    var.value.span,
                    "both given",
                )
                .help("leave one of the two empty, e.g. `my-secret:key::version-id`"),
            );
        }
    }

    fn proxy(&mut self, v: &Node) -> Proxy {
        let entries = self.map(v, "`proxy`");
        let keyed = self.keys(entries, &["upload-artifacts", "logs"], "`proxy` key", &[], "proxy");
        Proxy {
            upload_artifacts: keyed
                .get("upload-artifacts")
                .is_some_and(|(_, v)| self.yes_no(v, "upload-artifacts")),
            logs: keyed.get("logs").is_some_and(|(_, v)| self.yes_no(v, "logs")),
        }
    }

    fn batch(&mut self, v: &Node) -> Option<Batch> {
        let entries = self.map(v, "`batch`");
        let kinds = ["build-list", "build-matrix", "build-graph", "build-fanout"];
        let mut allowed = kinds.to_vec();
        allowed.push("fast-fail");
        let keyed = self.keys(entries, &allowed, "`batch` key", &[], "batch");
        let present: Vec<_> = kinds.iter().filter(|k| keyed.get(k).is_some()).collect();
        if present.len() > 1 {
            let (_, k, _) = keyed.0.iter().find(|(n, ..)| *n == *present[1])?;
            self.error(
                Issue::error(
                    "batch-kinds",
                    format!("`batch` holds both `{}` and `{}`", present[0], present[1]),
                    k.span,
                    "second batch kind",
                )
                .help("a batch holds exactly one of build-list, build-matrix, build-graph or build-fanout"),
            );
        }
        let fast_fail = keyed.get("fast-fail").is_some_and(|(_, v)| self.yes_no(v, "fast-fail"));
        let kind = match present.first().map(|k| **k) {
            Some(k @ ("build-list" | "build-graph")) => {
                let (_, v) = keyed.get(k)?;
                let graph = k == "build-graph";
                let tasks = self.batch_tasks(v, k, graph);
                Some(if graph { BatchKind::Graph(tasks) } else { BatchKind::List(tasks) })
            }
            Some("build-matrix") => keyed.get("build-matrix").map(|(_, v)| self.batch_matrix(v)),
            Some("build-fanout") => keyed.get("build-fanout").map(|(_, v)| self.batch_fanout(v)),
            _ => None,
        };
        Some(Batch { fast_fail, kind })
    }

    /// The tasks of a build-list or build-graph; identifiers as CodeBuild accepts them
    /// (R-BATCH-10), unique, and for a graph every `depend-on` known and no cycle.
    fn batch_tasks(&mut self, v: &Node, what: &str, graph: bool) -> Vec<BatchTask> {
        let mut tasks: Vec<BatchTask> = Vec::new();
        let allowed: &[&str] = if graph {
            &["identifier", "buildspec", "debug-session", "depend-on", "env", "ignore-failure"]
        } else {
            &["identifier", "buildspec", "debug-session", "env", "ignore-failure"]
        };
        for item in self.list(v, what) {
            let entries = self.map(item, &format!("each task of `{what}`"));
            let keyed = self.keys(entries, allowed, &format!("`{what}` task key"), &[], "batch");
            let Some((_, id_node)) = keyed.get("identifier") else {
                self.error(
                    Issue::error(
                        "batch-identifier",
                        format!("a `{what}` task has no `identifier`"),
                        item.span,
                        "no identifier",
                    )
                    .help("give each task an `identifier` of letters, digits and `_`"),
                );
                continue;
            };
            let Some(identifier) = self.string(id_node, "`identifier`") else { continue };
            if !valid_batch_identifier(&identifier) {
                self.error(
                    Issue::error(
                        "batch-identifier",
                        format!("task identifier `{}` must be letters, digits and `_`, under 128 characters", identifier.value),
                        identifier.span,
                        "not a valid identifier",
                    )
                    .help("CodeBuild rejects the batch: use `_` instead of `-`")
                    .codebuild("BATCH_SPEC_VALIDATION_ERROR: BatchSpec has invalid values.. Build Identifiers must contain only alphanumeric characters and underscores and be less than 128 characters in length."),
                );
                continue;
            }
            if tasks.iter().any(|t| t.identifier.value == identifier.value) {
                self.error(Issue::error(
                    "batch-identifier",
                    format!("task identifier `{}` is used twice", identifier.value),
                    identifier.span,
                    "used again",
                ));
                continue;
            }
            let buildspec =
                keyed.get("buildspec").and_then(|(_, v)| self.string(v, "`buildspec`")).map(|s| s.value);
            let depend_on =
                keyed.get("depend-on").map(|(_, v)| self.string_list(v, "`depend-on`")).unwrap_or_default();
            let mut settings = match keyed.get("env") {
                Some((_, v)) => self.task_env(v),
                None => TaskSettings::default(),
            };
            settings.ignore_failure =
                keyed.get("ignore-failure").is_some_and(|(_, v)| self.yes_no(v, "ignore-failure"));
            settings.debug_session =
                keyed.get("debug-session").is_some_and(|(_, v)| self.yes_no(v, "debug-session"));
            tasks.push(BatchTask { identifier, buildspec, depend_on, settings });
        }
        if graph {
            let names: Vec<String> = tasks.iter().map(|t| t.identifier.value.clone()).collect();
            for t in &tasks {
                for d in &t.depend_on {
                    if !names.contains(&d.value) {
                        let mut issue = Issue::error(
                            "batch-depend-on",
                            format!("`{}` depends on `{}`, which is not a task", t.identifier.value, d.value),
                            d.span,
                            "no such task",
                        );
                        if let Some(s) =
                            suggest(&d.value, &names.iter().map(String::as_str).collect::<Vec<_>>())
                        {
                            issue = issue.help(format!("did you mean `{s}`?"));
                        }
                        self.error(issue);
                    }
                }
            }
            if let Some(cycle) = batch_cycle(&tasks) {
                let at = tasks.iter().find(|t| t.identifier.value == cycle[0]).map(|t| t.identifier.span);
                if let Some(span) = at {
                    self.error(Issue::error(
                        "batch-cycle",
                        format!("the build graph has a cycle: {}", cycle.join(" → ")),
                        span,
                        "part of a cycle",
                    ));
                }
            }
        }
        tasks
    }

    fn task_env(&mut self, v: &Node) -> TaskSettings {
        let entries = self.map(v, "a task's `env`");
        let keyed = self.keys(
            entries,
            &["compute-type", "fleet", "image", "privileged-mode", "type", "variables"],
            "task `env` key",
            &[],
            "batch",
        );
        let text = |cx: &mut Self, key: &str| {
            keyed.get(key).and_then(|(_, v)| cx.string(v, &format!("`{key}`"))).map(|s| s.value)
        };
        TaskSettings {
            variables: keyed
                .get("variables")
                .map(|(_, v)| self.vars(v, "a task's `env/variables`"))
                .unwrap_or_default()
                .into_iter()
                .map(|e| (e.name.value, e.value.value))
                .collect(),
            image: text(self, "image"),
            privileged_mode: keyed.get("privileged-mode").map(|(_, v)| self.yes_no(v, "privileged-mode")),
            compute_type: text(self, "compute-type"),
            env_type: text(self, "type"),
            fleet: text(self, "fleet"),
            ..Default::default()
        }
    }

    fn batch_matrix(&mut self, v: &Node) -> BatchKind {
        let entries = self.map(v, "`build-matrix`");
        let keyed = self.keys(entries, &["static", "dynamic"], "`build-matrix` key", &[], "batch");
        let mut settings = TaskSettings::default();
        if let Some((_, st)) = keyed.get("static") {
            let entries = self.map(st, "`build-matrix/static`");
            let sk =
                self.keys(entries, &["ignore-failure", "env", "debug-session"], "`static` key", &[], "batch");
            if let Some((_, e)) = sk.get("env") {
                settings = self.task_env(e);
            }
            settings.ignore_failure =
                sk.get("ignore-failure").is_some_and(|(_, v)| self.yes_no(v, "ignore-failure"));
            settings.debug_session =
                sk.get("debug-session").is_some_and(|(_, v)| self.yes_no(v, "debug-session"));
        }
        let mut dynamic = MatrixDynamic::default();
        if let Some((_, d)) = keyed.get("dynamic") {
            let entries = self.map(d, "`build-matrix/dynamic`");
            let dk = self.keys(entries, &["buildspec", "env"], "`dynamic` key", &[], "batch");
            if let Some((_, b)) = dk.get("buildspec") {
                dynamic.buildspecs =
                    self.string_list(b, "`dynamic/buildspec`").into_iter().map(|s| s.value).collect();
            }
            if let Some((_, e)) = dk.get("env") {
                let entries = self.map(e, "`dynamic/env`");
                let ek = self.keys(
                    entries,
                    &["compute-type", "image", "variables", "fleet"],
                    "`dynamic/env` key",
                    &[],
                    "batch",
                );
                if let Some((_, i)) = ek.get("image") {
                    dynamic.images =
                        self.string_list(i, "`dynamic/env/image`").into_iter().map(|s| s.value).collect();
                }
                if let Some((_, c)) = ek.get("compute-type") {
                    dynamic.compute_types = self
                        .string_list(c, "`dynamic/env/compute-type`")
                        .into_iter()
                        .map(|s| s.value)
                        .collect();
                }
                if let Some((_, vars)) = ek.get("variables") {
                    for (k, vals) in self.map(vars, "`dynamic/env/variables`") {
                        let Some(name) = self.string(k, "a variable name") else { continue };
                        if !is_identifier(&name) {
                            self.error(Issue::error(
                                "bad-variable-name",
                                format!("`{}` is not a valid variable name", name.value),
                                k.span,
                                "not a shell name",
                            ));
                            continue;
                        }
                        let values = self
                            .string_list(vals, &format!("`{}`", name.value))
                            .into_iter()
                            .map(|s| s.value)
                            .collect();
                        dynamic.variables.push((name.value, values));
                    }
                }
            }
        }
        BatchKind::Matrix { settings, dynamic }
    }

    fn batch_fanout(&mut self, v: &Node) -> BatchKind {
        let entries = self.map(v, "`build-fanout`");
        let keyed =
            self.keys(entries, &["parallelism", "ignore-failure"], "`build-fanout` key", &[], "batch");
        let parallelism = match keyed.get("parallelism") {
            Some((_, p)) => {
                match p.as_scalar().and_then(|t| t.parse::<u32>().ok()).filter(|n| (1..=100).contains(n)) {
                    Some(n) => n,
                    None => {
                        self.error(
                            Issue::error(
                                "batch-parallelism",
                                "`parallelism` must be a whole number from 1 to 100",
                                p.span,
                                "not a count",
                            )
                            .help("write e.g. `parallelism: 4`"),
                        );
                        1
                    }
                }
            }
            None => {
                self.error(Issue::error(
                    "batch-parallelism",
                    "`build-fanout` needs `parallelism`",
                    v.span,
                    "no parallelism",
                ));
                1
            }
        };
        let settings = TaskSettings {
            ignore_failure: keyed
                .get("ignore-failure")
                .is_some_and(|(_, v)| self.yes_no(v, "ignore-failure")),
            ..Default::default()
        };
        BatchKind::Fanout { parallelism, settings }
    }

    fn phases(&mut self, v: &Node) -> Vec<Phase> {
        let entries = self.map(v, "`phases`");
        let mut phases: Vec<Phase> = Vec::new();
        for (k, body) in entries {
            let Some(name) = self.key_name(k) else {
                continue;
            };
            let Some(phase) = PhaseName::from_key(name) else {
                self.unknown_phase(name, k.span);
                continue;
            };
            if phases.iter().any(|p| p.name == phase) {
                self.error(
                    Issue::error(
                        "duplicate-key",
                        format!("phase `{name}` is declared twice"),
                        k.span,
                        "declared again",
                    )
                    .help("merge the two into one phase"),
                );
                continue;
            }
            phases.push(self.phase(phase, body));
        }
        phases
    }

    /// CodeBuild's wording, with the names in its (alphabetical) order (R-YAML-02).
    fn unknown_phase(&mut self, name: &str, span: Span) {
        let mut issue = Issue::error("unknown-phase", format!("unknown phase `{name}`"), span, "not a phase")
            .codebuild(format!(
                "Invalid buildspec phase name: {name}. Expecting: build,install,post_build,pre_build"
            ));
        let keys: Vec<&str> = PhaseName::ALL.iter().map(|p| p.key()).collect();
        if TOP_KEYS.contains(&name) {
            issue = issue.help(format!(
                "`{name}` is a top-level key: it is indented under `phases`; move it back to the left margin"
            ));
        } else if let Some(s) = suggest(name, &keys) {
            issue = issue.help(format!(
                "did you mean `{s}`? phases are `install`, `pre_build`, `build` and `post_build`"
            ));
        } else {
            issue = issue.help("phases are `install`, `pre_build`, `build` and `post_build`");
        }
        self.error(issue);
    }

    fn phase(&mut self, name: PhaseName, body: &Node) -> Phase {
        let mut phase = Phase {
            name,
            run_as: None,
            on_failure: None,
            commands: Vec::new(),
            finally: Vec::new(),
            runtime_versions: Vec::new(),
            span: body.span,
        };
        let entries = self.map(body, &format!("phase `{}`", name.key()));
        let keyed = self.keys(entries, PHASE_KEYS, "phase key", &[], &name.key().to_ascii_uppercase());
        if let Some((_, v)) = keyed.get("run-as") {
            phase.run_as = self.user(v);
        }
        if let Some((_, v)) = keyed.get("on-failure") {
            phase.on_failure = self.on_failure(v);
        }
        if let Some((_, v)) = keyed.get("commands") {
            phase.commands = self.steps(v, "Commands");
        }
        if let Some((_, v)) = keyed.get("finally") {
            phase.finally = self.steps(v, "Finally");
        }
        if let Some((k, v)) = keyed.get("runtime-versions") {
            if name == PhaseName::Install {
                for (rk, rv) in self.map(v, "`runtime-versions`") {
                    if let (Some(rt), Some(ver)) =
                        (self.string(rk, "a runtime name"), self.string(rv, "a runtime version"))
                    {
                        phase.runtime_versions.push((rt, ver));
                    }
                }
            } else {
                // CodeBuild's parser takes it and does nothing with it outside `install`.
                self.error(
                    Issue::warning(
                        "misplaced-runtime-versions",
                        "`runtime-versions` outside the `install` phase is ignored",
                        k.span,
                        "not in install",
                    )
                    .help("move it under `phases/install` to select runtimes"),
                );
            }
        }
        phase
    }

    /// `commands` / `finally`: a list of strings. A mapping entry is what YAML makes of an
    /// unquoted command containing `: ` (R-YAML-02).
    fn steps(&mut self, v: &Node, what: &str) -> Vec<Step> {
        let key = what.to_lowercase();
        let items = match &v.kind {
            NodeKind::Seq(items) => items.as_slice(),
            _ if v.is_null() => &[],
            NodeKind::Scalar { value, .. } => {
                // Taken as one command, like a one-entry list; CodeBuild's docs always use a list.
                self.error(
                    Issue::warning(
                        "scalar-commands",
                        format!("`{key}` is a single string, not a list"),
                        v.span,
                        "runs as one command",
                    )
                    .help(format!("write it as a list: `{key}:` then `- {value}` on the next line")),
                );
                return vec![Step::Command(Spanned::new(value.clone(), v.span))];
            }
            NodeKind::Map(_) => {
                self.error(
                    Issue::error(
                        "wrong-type",
                        format!("`{key}` must be a list of commands, found {}", v.kind_name()),
                        v.span,
                        "expected a list",
                    )
                    .help(format!("write each command on its own line under `{key}:`, starting with `- `")),
                );
                return Vec::new();
            }
        };
        let mut steps = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match &item.kind {
                NodeKind::Scalar { value, .. } => {
                    let text = if item.is_null() { String::new() } else { value.clone() };
                    steps.push(Step::Command(Spanned::new(text, item.span)));
                }
                NodeKind::Map(entries) if super::plugin_step::is_plugin_step(entries) => {
                    if let Some(step) = super::plugin_step::parse(entries, item.span, &mut self.issues) {
                        steps.push(Step::Plugin(step));
                    }
                }
                NodeKind::Map(entries) => {
                    let line = entries.first().map_or(0, |(k, _)| self.line(k.span.start));
                    let mut issue = Issue::error("command-is-mapping", format!("{key} entry {index} is a mapping, not a command"), item.span, "YAML read this as `key: value`")
                        .codebuild(format!(
                            "Expected {what}[{index}] to be of string type: found subkeys instead at line {line}, value of the key tag on line {} might be empty",
                            line.saturating_sub(1)
                        ));
                    issue = issue.help("quote the command: it contains `: `, e.g. - \"echo key: value\"");
                    self.error(issue);
                }
                NodeKind::Seq(_) => {
                    self.error(
                        Issue::error(
                            "wrong-type",
                            format!("{key} entry {index} is a list, not a command"),
                            item.span,
                            "nested list",
                        )
                        .help("remove the extra `- ` so each command is one string"),
                    );
                }
            }
        }
        steps
    }

    fn line(&self, offset: usize) -> usize {
        yaml::line_of(self.src, offset)
    }

    fn on_failure(&mut self, v: &Node) -> Option<Spanned<OnFailure>> {
        let text = self.string(v, "`on-failure`")?;
        match parse_on_failure(&text) {
            Ok(of) => Some(Spanned::new(of, v.span)),
            Err(why) => {
                self.error(
                    Issue::error("bad-on-failure", format!("invalid `on-failure` value `{}`: {why}", text.value), v.span, "not a valid value")
                        .help("use ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex> (count 0-100)"),
                );
                None
            }
        }
    }

    fn artifact_spec<'n>(
        &mut self,
        v: &'n Node,
        what: &str,
        allow_secondary: bool,
    ) -> (ArtifactSpec, Option<&'n Node>) {
        let entries = self.map(v, what);
        let allowed: Vec<&str> = ARTIFACT_KEYS
            .iter()
            .copied()
            .filter(|k| allow_secondary || *k != "secondary-artifacts")
            .collect();
        let keyed = self.keys(entries, &allowed, &format!("{what} key"), &[], "artifacts");
        let mut spec = ArtifactSpec::default();
        if let Some((_, v)) = keyed.get("files") {
            spec.files = self.string_list(v, "files");
        }
        if let Some((_, v)) = keyed.get("name") {
            spec.name = self.string(v, "`name`");
        }
        if let Some((_, v)) = keyed.get("discard-paths") {
            spec.discard_paths = self.yes_no(v, "discard-paths");
        }
        if let Some((_, v)) = keyed.get("base-directory") {
            spec.base_directory = self.string(v, "`base-directory`");
        }
        if let Some((_, v)) = keyed.get("exclude-paths") {
            // The reference calls it a mapping but shows a list; a single string is also taken.
            spec.exclude_paths = match &v.kind {
                NodeKind::Scalar { .. } => self.string(v, "`exclude-paths`").into_iter().collect(),
                _ => self.string_list(v, "exclude-paths"),
            };
        }
        if let Some((_, v)) = keyed.get("enable-symlinks") {
            spec.enable_symlinks = self.yes_no(v, "enable-symlinks");
        }
        if let Some((_, v)) = keyed.get("s3-prefix") {
            spec.s3_prefix = self.string(v, "`s3-prefix`");
        }
        for pattern in spec.files.iter().chain(&spec.exclude_paths) {
            check_pattern(&mut self.issues, pattern);
        }
        (spec, keyed.get("secondary-artifacts").map(|(_, v)| v))
    }

    fn artifacts(&mut self, k: &Node, v: &Node) -> Option<Artifacts> {
        if v.is_null() {
            self.error(
                Issue::warning("empty-artifacts", "`artifacts` is empty and is ignored", k.span, "no files")
                    .help("list the files to keep under `artifacts/files`"),
            );
            return None;
        }
        let (primary, secondary_node) = self.artifact_spec(v, "`artifacts`", true);
        let mut secondary = Vec::new();
        if let Some(sec) = secondary_node {
            for (id_node, body) in self.map(sec, "`secondary-artifacts`") {
                let Some(id) = self.string(id_node, "an artifact identifier") else {
                    continue;
                };
                if !is_identifier_like(&id) {
                    self.error(
                        Issue::error(
                            "bad-artifact-id",
                            format!("`{}` is not a valid artifact identifier", id.value),
                            id.span,
                            "not an identifier",
                        )
                        .help("use letters, digits and `_` only"),
                    );
                }
                let (spec, _) =
                    self.artifact_spec(body, &format!("secondary artifact `{}`", id.value), false);
                if spec.files.is_empty() {
                    self.error(
                        Issue::error(
                            "missing-files",
                            format!("secondary artifact `{}` has no `files`", id.value),
                            id.span,
                            "no files",
                        )
                        .help("add a `files:` list"),
                    );
                }
                secondary.push((id, spec));
            }
            if secondary.len() > 12 {
                self.error(Issue::error(
                    "too-many-artifacts",
                    "at most 12 secondary artifacts are allowed",
                    sec.span,
                    "too many",
                ));
            }
        }
        if primary.files.is_empty() {
            // R-ART-06: CodeBuild takes the buildspec (a project without artifacts never
            // notices); a build whose artifacts are wanted fails UPLOAD_ARTIFACTS with
            // CLIENT_ERROR.
            self.error(
                Issue::warning(
                    "no-primary-artifacts",
                    "`artifacts` has no `files`",
                    k.span,
                    "no primary files",
                )
                .help("a build whose artifacts are wanted fails UPLOAD_ARTIFACTS (no definition for primary artifacts in buildspec): list them under `artifacts/files`, even when only secondary artifacts are wanted")
                .codebuild("no definition for primary artifacts in buildspec"),
            );
        }
        Some(Artifacts { primary, secondary, span: v.span })
    }

    fn cache(&mut self, v: &Node) -> Option<Cache> {
        let entries = self.map(v, "`cache`");
        let keyed = self.keys(entries, CACHE_KEYS, "`cache` key", &[], "cache");
        let mut cache = Cache::default();
        if let Some((_, v)) = keyed.get("paths") {
            cache.paths = self.string_list(v, "paths");
        }
        if let Some((_, v)) = keyed.get("key") {
            cache.key = self.string(v, "`cache/key`");
        }
        if let Some((k, v)) = keyed.get("fallback-keys") {
            cache.fallback_keys = self.string_list(v, "fallback-keys");
            if cache.fallback_keys.len() > 5 {
                self.error(Issue::error(
                    "too-many-fallback-keys",
                    "at most 5 `fallback-keys` are allowed",
                    k.span,
                    "too many",
                ));
            }
            if cache.key.is_none() && !cache.fallback_keys.is_empty() {
                self.error(
                    Issue::warning(
                        "fallback-without-key",
                        "`fallback-keys` are ignored without `key`",
                        k.span,
                        "ignored",
                    )
                    .help("add a `cache/key`"),
                );
            }
        }
        if let Some((_, v)) = keyed.get("action")
            && let Some(a) = self.string(v, "`cache/action`")
        {
            cache.action = match a.as_str() {
                "restore" => Some(CacheAction::Restore),
                "save" => Some(CacheAction::Save),
                other => {
                    self.error(
                        Issue::error(
                            "bad-cache-action",
                            format!("unknown cache action `{other}`"),
                            a.span,
                            "not restore or save",
                        )
                        .help("use `restore` or `save`, or leave it out for both"),
                    );
                    None
                }
            };
        }
        for pattern in &cache.paths {
            if !pattern.starts_with('/') {
                check_pattern(&mut self.issues, pattern);
            }
        }
        Some(cache)
    }

    fn reports(&mut self, v: &Node) -> Vec<ReportGroup> {
        let mut groups = Vec::new();
        for (k, body) in self.map(v, "`reports`") {
            let Some(name) = self.string(k, "a report group name") else {
                continue;
            };
            let entries = self.map(body, &format!("report group `{}`", name.value));
            let keyed = self.keys(entries, REPORT_KEYS, "report key", &[], "reports");
            let files = match keyed.get("files") {
                Some((_, v)) => self.string_list(v, "files"),
                None => {
                    self.error(
                        Issue::error(
                            "missing-files",
                            format!("report group `{}` has no `files`", name.value),
                            k.span,
                            "no files",
                        )
                        .help("add a `files:` list of report files"),
                    );
                    Vec::new()
                }
            };
            for pattern in &files {
                check_pattern(&mut self.issues, pattern);
            }
            let file_format = match keyed.get("file-format") {
                Some((_, v)) => match self.string(v, "`file-format`") {
                    Some(f) => {
                        let upper = f.to_ascii_uppercase();
                        if !REPORT_FORMATS.contains(&upper.as_str()) {
                            self.error(
                                Issue::error(
                                    "bad-report-format",
                                    format!("unknown report format `{}`", f.value),
                                    f.span,
                                    "unknown format",
                                )
                                .help(format!("use one of: {}", REPORT_FORMATS.join(", "))),
                            );
                        }
                        upper
                    }
                    None => "JUNITXML".to_string(),
                },
                None => "JUNITXML".to_string(),
            };
            groups.push(ReportGroup {
                base_directory: keyed
                    .get("base-directory")
                    .and_then(|(_, v)| self.string(v, "`base-directory`")),
                discard_paths: keyed
                    .get("discard-paths")
                    .is_some_and(|(_, v)| self.yes_no(v, "discard-paths")),
                name,
                files,
                file_format,
            });
        }
        if groups.len() > 5 {
            self.error(Issue::warning(
                "too-many-report-groups",
                "CodeBuild allows at most 5 report groups per project",
                v.span,
                "more than 5",
            ));
        }
        groups
    }
}

/// A mapping indexed by key, keeping the key node for spans.
struct Keyed<'a>(Vec<(&'a str, &'a Node, &'a Node)>);

impl<'a> Keyed<'a> {
    fn get(&self, name: &str) -> Option<(&'a Node, &'a Node)> {
        self.0.iter().find(|(n, ..)| *n == name).map(|(_, k, v)| (*k, *v))
    }
}

/// Patterns are relative to the source or base directory: `..` and absolute paths would reach
/// outside it, so they are refused up front (the collector refuses them again at run time).
fn check_pattern(issues: &mut Vec<Issue>, pattern: &Spanned<String>) {
    let p = pattern.as_str();
    if p.split('/').any(|seg| seg == "..") {
        issues.push(
            Issue::error("pattern-escapes", format!("path pattern `{p}` leaves the build directory"), pattern.span, "contains `..`")
                .help("artifact and report paths are relative to the source directory (or base-directory) and cannot use `..`"),
        );
    }
}

/// The parts of a Secrets Manager reference; `secret_id` may itself be an ARN full of colons.
pub struct SecretReference<'a> {
    pub secret_id: &'a str,
    pub json_key: Option<&'a str>,
    pub version_stage: Option<&'a str>,
    pub version_id: Option<&'a str>,
}

pub fn split_secret_reference(text: &str) -> SecretReference<'_> {
    // An ARN is `arn:partition:secretsmanager:region:account:secret:name`: seven fields.
    let (id, rest) = if text.starts_with("arn:") {
        let mut idx = 0;
        let mut count = 0;
        for (i, c) in text.char_indices() {
            if c == ':' {
                count += 1;
                if count == 7 {
                    idx = i;
                    break;
                }
            }
        }
        if count == 7 { (&text[..idx], Some(&text[idx + 1..])) } else { (text, None) }
    } else {
        match text.split_once(':') {
            Some((id, rest)) => (id, Some(rest)),
            None => (text, None),
        }
    };
    let mut parts = rest.map(|r| r.splitn(3, ':')).into_iter().flatten();
    SecretReference {
        secret_id: id,
        json_key: parts.next(),
        version_stage: parts.next(),
        version_id: parts.next(),
    }
}

/// Parses an `on-failure` value (R-PH-20). Case-insensitive keywords; the regex is kept as written.
pub fn parse_on_failure(text: &str) -> Result<OnFailure, String> {
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "ABORT" => return Ok(OnFailure::Abort),
        "CONTINUE" => return Ok(OnFailure::Continue),
        "RETRY" => {
            return Ok(OnFailure::Retry { count: 3, pattern: None });
        }
        _ => {}
    }
    if !upper.starts_with("RETRY-") {
        return Err("expected ABORT, CONTINUE or a RETRY form".to_string());
    }
    let rest = &text[6..];
    let (count, pattern) = match rest.split_once('-') {
        Some((n, re)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (Some(n), Some(re)),
        _ if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) => (Some(rest), None),
        _ => (None, Some(rest)),
    };
    let count = match count {
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n <= 100 => n,
            _ => return Err(format!("retry count `{n}` is not between 0 and 100")),
        },
        None => 3,
    };
    if let Some(re) = pattern {
        if re.is_empty() {
            return Err("the retry pattern is empty".to_string());
        }
        regex::Regex::new(re).map_err(|e| format!("bad regular expression: {e}"))?;
    }
    Ok(OnFailure::Retry { count, pattern: pattern.map(str::to_string) })
}

pub use crate::plugin_model::is_identifier;

/// R-BATCH-10: letters, digits and `_`, under 128 characters.
fn valid_batch_identifier(id: &str) -> bool {
    !id.is_empty() && id.len() < 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A cycle of `depend-on`, as identifiers from a task back to itself.
fn batch_cycle(tasks: &[BatchTask]) -> Option<Vec<String>> {
    fn visit<'a>(
        t: &'a str,
        tasks: &'a [BatchTask],
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == t) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(t.to_string());
            return Some(cycle);
        }
        if done.contains(&t) {
            return None;
        }
        path.push(t);
        if let Some(task) = tasks.iter().find(|x| x.identifier.value == t) {
            for d in &task.depend_on {
                if let Some(c) = visit(&d.value, tasks, path, done) {
                    return Some(c);
                }
            }
        }
        path.pop();
        done.push(t);
        None
    }
    let mut done = Vec::new();
    for t in tasks {
        if let Some(c) = visit(&t.identifier.value, tasks, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn is_identifier_like(name: &str) -> bool {
    !name.is_empty() && name.len() < 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The closest allowed name, when it is close enough to be a typo.
fn suggest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let normalized = name.to_ascii_lowercase().replace(['-', '_'], "");
    allowed
        .iter()
        .map(|a| (a, strsim::levenshtein(&normalized, &a.replace(['-', '_'], ""))))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(a, _)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_failure_values() {
        let retry =
            |count, pattern: Option<&str>| OnFailure::Retry { count, pattern: pattern.map(str::to_string) };
        let table: &[(&str, Result<OnFailure, &str>)] = &[
            ("ABORT", Ok(OnFailure::Abort)),
            ("abort", Ok(OnFailure::Abort)),
            ("CONTINUE", Ok(OnFailure::Continue)),
            ("RETRY", Ok(retry(3, None))),
            ("RETRY-0", Ok(retry(0, None))),
            ("RETRY-100", Ok(retry(100, None))),
            ("RETRY-101", Err("not between 0 and 100")),
            ("RETRY-timeout.*", Ok(retry(3, Some("timeout.*")))),
            ("RETRY-5-exit status 1[0-9]", Ok(retry(5, Some("exit status 1[0-9]")))),
            ("RETRY-2-a-b", Ok(retry(2, Some("a-b")))),
            ("RETRY-(", Err("bad regular expression")),
            ("RETRY-", Err("empty")),
            ("SOMETIMES", Err("expected ABORT")),
        ];
        for (text, expected) in table {
            match (parse_on_failure(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    #[expect(clippy::type_complexity, reason = "a test table")]
    fn secret_references() {
        let table: &[(&str, (&str, Option<&str>, Option<&str>, Option<&str>))] = &[
            ("my-secret", ("my-secret", None, None, None)),
            ("my-secret:password", ("my-secret", Some("password"), None, None)),
            ("my-secret:password:AWSPREVIOUS", ("my-secret", Some("password"), Some("AWSPREVIOUS"), None)),
            ("my-secret:::v-1", ("my-secret", Some(""), Some(""), Some("v-1"))),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci-AbCd:token",
                ("arn:aws:secretsmanager:us-east-1:123456789012:secret:ci-AbCd", Some("token"), None, None),
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci-AbCd",
                ("arn:aws:secretsmanager:us-east-1:123456789012:secret:ci-AbCd", None, None, None),
            ),
        ];
        for (text, (id, key, stage, version)) in table {
            let r = split_secret_reference(text);
            assert_eq!(
                (r.secret_id, r.json_key, r.version_stage, r.version_id),
                (*id, *key, *stage, *version),
                "{text}"
            );
        }
    }

    fn parse_ok(src: &str) -> Buildspec {
        let parsed = parse("buildspec.yml", src);
        assert!(!parsed.diagnostics.has_errors(), "{}", parsed.diagnostics.render(100));
        parsed.buildspec.unwrap()
    }

    fn codes(src: &str) -> Vec<&'static str> {
        parse("buildspec.yml", src).diagnostics.issues.iter().map(|i| i.code).collect()
    }

    #[test]
    fn single_strings_are_one_entry_lists() {
        // AWS's ECS tutorial: `files: imagedefinitions.json`.
        let spec = parse_ok("version: 0.2\nartifacts:\n  files: imagedefinitions.json\n");
        assert_eq!(spec.artifacts.unwrap().primary.files[0].as_str(), "imagedefinitions.json");
        let parsed = parse("b.yml", "version: 0.2\nphases:\n  build:\n    commands: make all\n");
        assert_eq!(parsed.buildspec.unwrap().phases[0].commands[0].text(), "make all");
        assert_eq!(parsed.diagnostics.issues[0].code, "scalar-commands");
    }

    #[test]
    fn yaml_1_1_booleans_for_yes_no_keys() {
        for (text, want) in [
            ("yes", true),
            ("no", false),
            ("true", true),
            ("false", false),
            ("\"yes\"", true),
            ("On", true),
            ("off", false),
        ] {
            let spec =
                parse_ok(&format!("version: 0.2\nartifacts:\n  files: [a]\n  discard-paths: {text}\n"));
            assert_eq!(spec.artifacts.unwrap().primary.discard_paths, want, "{text}");
        }
    }

    #[test]
    fn env_values_are_kept_as_written() {
        // R-ENV-02 literal values; R-YAML-04 [OPEN] decided: the source text, so 1.10 stays 1.10.
        let spec = parse_ok(
            "version: 0.2\nenv:\n  variables:\n    A: 1.10\n    B: yes\n    C: \"$PATH:/x\"\n    D:\n",
        );
        let vars: Vec<(&str, &str)> =
            spec.env.variables.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
        assert_eq!(vars, [("A", "1.10"), ("B", "yes"), ("C", "$PATH:/x"), ("D", "")]);
    }

    #[test]
    fn version_may_be_a_string_or_a_number() {
        // R-YAML-05: "0.2" as a string is accepted for ordinary builds.
        assert_eq!(parse_ok("version: \"0.2\"\n").version, Version::V0_2);
        assert_eq!(parse_ok("version: 0.1\n").version, Version::V0_1);
        assert_eq!(codes("version: 0.3\n"), ["bad-version"]);
        assert_eq!(codes("phases: {}\n"), ["missing-version"]);
    }

    #[test]
    fn json_buildspecs_are_accepted() {
        // R-YAML-05: JSON is a YAML subset.
        let spec = parse_ok(r#"{"version": 0.2, "phases": {"build": {"commands": ["echo hi"]}}}"#);
        assert_eq!(spec.phase(PhaseName::Build).unwrap().commands[0].text(), "echo hi");
    }

    #[test]
    fn phases_keep_file_order_and_block_commands_stay_whole() {
        let spec = parse_ok(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - |\n        a\n        b\n  install:\n    commands: []\n",
        );
        let names: Vec<_> = spec.phases.iter().map(|p| p.name).collect();
        assert_eq!(names, [PhaseName::Build, PhaseName::Install]);
        assert_eq!(spec.phases[0].commands[0].text(), "a\nb\n");
    }

    #[test]
    fn unknown_keys_are_warnings_not_errors() {
        // R-YAML-03 [OPEN] decided: warn with the span, ignore the key.
        let parsed =
            parse("b.yml", "version: 0.2\nartifact:\n  files: [x]\nphases:\n  build:\n    comands: [make]\n");
        assert!(parsed.buildspec.is_some());
        let codes: Vec<_> = parsed.diagnostics.issues.iter().map(|i| (i.code, i.is_error())).collect();
        assert_eq!(codes, [("unknown-key", false), ("unknown-key", false)]);
        assert_eq!(parsed.diagnostics.issues[0].help.as_deref(), Some("did you mean `artifacts`?"));
    }

    #[test]
    fn secondary_artifacts_without_files_do_not_block_the_run() {
        // R-ART-06: a warning here, a failure at UPLOAD_ARTIFACTS, so the phases still run.
        let parsed =
            parse("b.yml", "version: 0.2\nartifacts:\n  secondary-artifacts:\n    web:\n      files: [x]\n");
        assert!(!parsed.diagnostics.has_errors());
        assert!(!parsed.diagnostics.issues.is_empty(), "warned about");
        assert!(parsed.buildspec.is_some());
    }

    #[test]
    fn run_as_resolution_prefers_the_phase() {
        let spec = parse_ok(
            "version: 0.2\nrun-as: alice\nphases:\n  build:\n    run-as: bob\n    commands: [id]\n  post_build:\n    commands: [id]\n",
        );
        assert_eq!(spec.run_as(PhaseName::Build), Some("bob"));
        assert_eq!(spec.run_as(PhaseName::PostBuild), Some("alice"));
    }

    #[test]
    fn version_0_1_names_are_accepted() {
        let spec = parse_ok("version: 0.1\nenvironment_variables:\n  plaintext:\n    A: b\n");
        assert_eq!(spec.env.variables[0].name.as_str(), "A");
    }

    #[test]
    fn garbage_never_panics() {
        for src in [
            "",
            ":",
            "- - -",
            "{",
            "[",
            "version: [",
            "\t",
            "a: &x *x",
            "? a\n: b",
            "%YAML 1.2\n---\n",
            "version: !!binary aGk=",
            "\u{feff}version: 0.2",
        ] {
            let _ = parse("b.yml", src);
        }
    }
}
