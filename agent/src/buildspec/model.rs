//! The typed buildspec: what the engine runs. Built by [`super::parse`], never by hand outside tests.
//!
//! Values that can be wrong at run time keep their [`Span`] so later stages (the engine, the
//! artifact collector) can still point back into the file.

use std::fmt;

use super::yaml::Span;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// `version: 0.1` runs every command in a fresh shell (R-SH-20); `0.2` keeps shell state (R-SH-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1,
    V0_2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V0_1 => "0.1",
            Version::V0_2 => "0.2",
        })
    }
}

/// The four build phases a buildspec can declare, in the order they always run (R-PH-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PhaseName {
    Install,
    PreBuild,
    Build,
    PostBuild,
}

impl PhaseName {
    pub const ALL: [PhaseName; 4] =
        [PhaseName::Install, PhaseName::PreBuild, PhaseName::Build, PhaseName::PostBuild];

    /// The key in the buildspec.
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Install => "install",
            PhaseName::PreBuild => "pre_build",
            PhaseName::Build => "build",
            PhaseName::PostBuild => "post_build",
        }
    }

    pub fn from_key(key: &str) -> Option<PhaseName> {
        PhaseName::ALL.into_iter().find(|p| p.key() == key)
    }
}

/// `env/shell` (R-ENV-01, R-SH-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    #[default]
    Sh,
    Bash,
    /// `powershell.exe`, `pwsh` or `cmd.exe`: a valid buildspec for a Windows build, which
    /// runspec does not run (it fails DOWNLOAD_SOURCE saying so).
    Windows,
}

impl Shell {
    pub fn program(self) -> &'static str {
        match self {
            Shell::Sh | Shell::Windows => "/bin/sh",
            Shell::Bash => "bash",
        }
    }
}

/// What to do when a phase fails (R-PH-20). `None` in [`Phase::on_failure`] means the default
/// transitions of R-TR-02.
#[derive(Debug, Clone, PartialEq)]
pub enum OnFailure {
    Abort,
    Continue,
    /// Run the phase again up to `count` more times while the failure matches `pattern`.
    Retry {
        count: u32,
        pattern: Option<String>,
    },
}

/// One entry of `commands` or `finally`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A shell command, exactly as written (a `|` block is one command, R-SH-08).
    Command(Spanned<String>),
    /// A WebAssembly plugin (a runspec extension: a mapping with a `plugin:` key).
    Plugin(PluginStep),
}

impl Step {
    /// The command text, or the plugin reference.
    pub fn text(&self) -> &str {
        match self {
            Step::Command(c) => &c.value,
            Step::Plugin(p) => &p.plugin.value,
        }
    }
}

/// `- plugin: REF` with its `with:`, `allow:` and `timeout:`.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginStep {
    /// As written; it parses as a [`crate::plugin_model::PluginRef`].
    pub plugin: Spanned<String>,
    pub with: Vec<(String, crate::plugin_model::ArgValue)>,
    pub allow: crate::plugin_model::Grants,
    pub timeout: Option<std::time::Duration>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: PhaseName,
    pub run_as: Option<Spanned<String>>,
    pub on_failure: Option<Spanned<OnFailure>>,
    pub commands: Vec<Step>,
    pub finally: Vec<Step>,
    /// `install` only: runtime → version.
    pub runtime_versions: Vec<(Spanned<String>, Spanned<String>)>,
    pub span: Span,
}

/// A `NAME: value` pair whose value is kept literally (R-ENV-02).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Env {
    pub shell: Option<Spanned<Shell>>,
    /// `env/shell` as written, for `Selecting shell <it> as specified in buildspec.`
    pub shell_text: Option<String>,
    pub variables: Vec<EnvVar>,
    /// NAME → SSM parameter name (R-ENV-06).
    pub parameter_store: Vec<EnvVar>,
    /// NAME → `secret-id[:json-key[:version-stage[:version-id]]]` (R-ENV-07).
    pub secrets_manager: Vec<EnvVar>,
    pub exported_variables: Vec<Spanned<String>>,
    pub git_credential_helper: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proxy {
    pub upload_artifacts: bool,
    pub logs: bool,
}

/// The file-selection keys shared by primary and secondary artifacts (§10).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArtifactSpec {
    pub files: Vec<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub discard_paths: bool,
    pub base_directory: Option<Spanned<String>>,
    pub exclude_paths: Vec<Spanned<String>>,
    pub enable_symlinks: bool,
    pub s3_prefix: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Artifacts {
    pub primary: ArtifactSpec,
    /// identifier → spec, in file order.
    pub secondary: Vec<(Spanned<String>, ArtifactSpec)>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    Restore,
    Save,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cache {
    pub paths: Vec<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub fallback_keys: Vec<Spanned<String>>,
    /// `None`: both restore and save.
    pub action: Option<CacheAction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportGroup {
    /// A report-group name or ARN.
    pub name: Spanned<String>,
    pub files: Vec<Spanned<String>>,
    pub base_directory: Option<Spanned<String>>,
    pub discard_paths: bool,
    /// Upper-cased, default `JUNITXML` (R-REP-01).
    pub file_format: String,
}

/// The `batch` section (R-BATCH-01): used by batch builds (`runspec run --batch`,
/// StartBuildBatch); an ordinary build ignores it (R-BATCH-03).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    pub fast_fail: bool,
    /// `None` when the section names none of the four kinds (`check` says so).
    pub kind: Option<BatchKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchKind {
    /// `build-list`: the tasks run in parallel.
    List(Vec<BatchTask>),
    /// `build-graph`: a task runs once its `depend-on` tasks completed.
    Graph(Vec<BatchTask>),
    /// `build-matrix`: one build per combination of `dynamic` (R-BATCH-07).
    Matrix { settings: TaskSettings, dynamic: MatrixDynamic },
    /// `build-fanout`: `parallelism` identical builds (R-BATCH-08).
    Fanout { parallelism: u32, settings: TaskSettings },
}

impl BatchKind {
    pub fn key(&self) -> &'static str {
        match self {
            BatchKind::List(_) => "build-list",
            BatchKind::Graph(_) => "build-graph",
            BatchKind::Matrix { .. } => "build-matrix",
            BatchKind::Fanout { .. } => "build-fanout",
        }
    }
}

/// One task of a build-list or build-graph.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTask {
    pub identifier: Spanned<String>,
    /// Another buildspec for this build, relative to the source root (R-BATCH-04).
    pub buildspec: Option<String>,
    pub depend_on: Vec<Spanned<String>>,
    pub settings: TaskSettings,
}

/// What a task may change for its build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskSettings {
    pub ignore_failure: bool,
    pub debug_session: bool,
    pub variables: Vec<(String, String)>,
    pub image: Option<String>,
    pub privileged_mode: Option<bool>,
    /// Recorded, not acted on (one machine).
    pub compute_type: Option<String>,
    pub env_type: Option<String>,
    pub fleet: Option<String>,
}

/// `build-matrix/dynamic`: lists whose every combination is a build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatrixDynamic {
    pub buildspecs: Vec<String>,
    pub images: Vec<String>,
    pub compute_types: Vec<String>,
    /// Variable → its values, in file order.
    pub variables: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Buildspec {
    pub version: Version,
    pub run_as: Option<Spanned<String>>,
    pub env: Env,
    pub proxy: Proxy,
    pub batch: Option<Batch>,
    /// Declared phases in file order (the order of the `Phases found in YAML` lines).
    pub phases: Vec<Phase>,
    pub reports: Vec<ReportGroup>,
    pub artifacts: Option<Artifacts>,
    pub cache: Option<Cache>,
    /// Keys CodeBuild does not know, as (section, key), in file order: the build log lists
    /// them the way CodeBuild does (`Found possible syntax errors in buildspec:`).
    pub unknown_keys: Vec<(String, String)>,
}

impl Buildspec {
    pub fn phase(&self, name: PhaseName) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// The user a phase's commands run as: the phase's `run-as`, else the top-level one (R-PH-02).
    pub fn run_as(&self, name: PhaseName) -> Option<&str> {
        self.phase(name).and_then(|p| p.run_as.as_ref()).or(self.run_as.as_ref()).map(|s| s.value.as_str())
    }
}
