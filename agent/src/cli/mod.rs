//! Command-line interface: clap structs (their doc comments are `--help`) and one function per
//! subcommand. Exit statuses are decided here only.

mod check;
mod image;
mod pipeline;
mod plugin;
mod replay;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::exec::docker::daemon::DockerMode;
use clap::{Parser, Subcommand, ValueEnum};

/// Exit statuses (DESIGN.md "Contracts").
pub mod exit {
    /// The build SUCCEEDED, or `check` found no error.
    pub const OK: u8 = 0;
    /// The build FAILED / FAULT / TIMED_OUT / STOPPED, or `check` found errors.
    pub const FAILED: u8 = 1;
    /// Bad flags or inputs: nothing was run.
    pub const USAGE: u8 = 2;
}

/// Run AWS CodeBuild buildspecs on your own machine, the way CodeBuild runs them.
#[derive(Debug, Parser)]
#[command(name = "runspec", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More agent diagnostics on stderr (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum Command {
    /// Run a build: DOWNLOAD_SOURCE, INSTALL … POST_BUILD, UPLOAD_ARTIFACTS, in a fresh copy of
    /// the source. The build log goes to stdout in CodeBuild's format.
    Run(RunArgs),
    /// Run a CodeBuild build again on this machine: its record and project are read through
    /// the CodeBuild API (real CodeBuild, or any endpoint AWS_ENDPOINT_URL names, such as
    /// `runspec serve`), then the same buildspec runs with the same source version, variables
    /// (Parameter Store and Secrets Manager values fetched with your credentials), image,
    /// privileged mode, timeout and cache. At the end: both builds phase by phase and the first
    /// phase where they differ. What cannot be reproduced is listed before the build starts.
    Replay(ReplayArgs),
    /// Validate a buildspec without running anything; every problem with file:line:col.
    Check(CheckArgs),
    /// SHA-256 of the files matching glob patterns (relative to the current directory), for
    /// cache keys. Builds have it on their PATH as `codebuild-hash-files`, as on CodeBuild.
    HashFiles(HashFilesArgs),
    /// Runs the tests of this fanout shard: the files `--files-search` prints, split across the
    /// batch's builds, appended to `--test-command` (and in CODEBUILD_CURRENT_SHARD_FILES).
    /// Builds have it on their PATH as `codebuild-tests-run`, as on CodeBuild.
    TestsRun(TestsRunArgs),
    /// Prints the files under the current directory matching glob patterns (`*` stays within a
    /// directory, `**` crosses them). Builds have it as `codebuild-glob-search`.
    GlobSearch(GlobSearchArgs),
    /// WebAssembly step plugins: run one, inspect one, or start a new one.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Container images: push a local image to ECR.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// CodePipeline pipelines: check a pipeline definition, or run it on this machine.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Print the runtime catalog `install/runtime-versions` selects from on this machine (the
    /// version managers found here), as runtimes.yml: save it, edit it, pass it back with
    /// `runspec run --runtimes FILE`.
    Runtimes(RuntimesArgs),
    /// A CodeBuild-compatible build service: the AWS CLI and SDKs create projects and start,
    /// watch and stop builds through the CodeBuild API (and read logs through CloudWatch Logs'
    /// GetLogEvents / FilterLogEvents) at --listen. Requests must be signed with a key from
    /// --credentials. Runs until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// One machine of a fleet: takes builds from the SQS queue that `runspec serve --store
    /// ... --queue ...` fills, runs them as `runspec run` does, and keeps their state and logs
    /// in the DynamoDB table every server reads. Runs until SIGTERM or Ctrl-C, then finishes
    /// its running builds and exits. With --codepipeline-action it is instead the job worker
    /// of a CodePipeline custom action: a real pipeline's build stage runs here.
    Worker(WorkerArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The build: PROJECT:UUID (as `aws codebuild list-builds` prints it) or its ARN (whose
    /// region is then used). With --record, which of the builds in the file (default: the first).
    #[arg(value_name = "BUILD_ID | BUILD_ARN", required_unless_present = "record")]
    pub build: Option<String>,

    /// Replay from a saved record instead of asking CodeBuild: a Build object, or what
    /// `aws codebuild batch-get-builds` printed. Secrets are still fetched when the build runs.
    #[arg(long, value_name = "BUILD.json")]
    pub record: Option<PathBuf>,

    /// A local clone of the build's repository: the build's commit (resolvedSourceVersion) is
    /// checked out of it, fetched from its `origin` when missing; ID=DIR for a secondary
    /// source. A directory for a source that is not git is used as it is. Without it, the
    /// source is fetched from where the build fetched it.
    #[arg(short = 's', long = "source", value_name = "DIR | ID=DIR")]
    pub sources: Vec<String>,

    /// Where artifacts go: a directory or s3://bucket/prefix (default: a directory under
    /// runspec's state directory, printed before the build).
    #[arg(short = 'a', long, value_name = "DIR | s3://BUCKET/PREFIX")]
    pub artifacts: Option<String>,

    /// Upload artifacts where the project sends them (its S3 location), as the original did.
    #[arg(long, conflicts_with = "artifacts")]
    pub original_artifacts: bool,

    /// Run in this image instead of the build's.
    #[arg(short = 'i', long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Run on this machine's shell instead of the build's image.
    #[arg(long, conflicts_with = "image")]
    pub host: bool,

    /// Cache location instead of the build's: a directory or s3://bucket/prefix.
    #[arg(long, value_name = "DIR | s3://BUCKET/PREFIX")]
    pub cache: Option<String>,

    /// Ignore the build's compute type: no memory or CPU limits (it had them on CodeBuild).
    #[arg(long)]
    pub no_limits: bool,

    /// How a privileged build gets Docker (see `runspec run --help`): in-image, as on
    /// CodeBuild; sidecar; or host, this machine's engine.
    #[arg(long, value_enum, default_value_t = DockerMode::InImage, value_name = "MODE")]
    pub docker: DockerMode,

    /// The image of the --docker sidecar daemon (it must have dockerd).
    #[arg(long, value_name = "IMAGE", default_value = "docker:dind")]
    pub docker_sidecar_image: String,

    /// Pass your AWS credentials into the build (it ran with its service role on CodeBuild).
    #[arg(short = 'c', long)]
    pub aws_credentials: bool,

    /// AWS profile for the CodeBuild calls, the secrets and --aws-credentials.
    #[arg(short = 'p', long, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Write this run as a CodeBuild `Build` JSON object to this file.
    #[arg(long, value_name = "BUILD.json")]
    pub result: Option<PathBuf>,

    /// Stop at the first failing command for a shell in its state (see `runspec run --debug`).
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The shared store: dynamodb://TABLE (created when missing). Credentials, region and
    /// endpoint come from the standard AWS chain (AWS_PROFILE, AWS_ENDPOINT_URL, ...).
    #[arg(long, value_name = "dynamodb://TABLE", required_unless_present = "codepipeline_action")]
    pub store: Option<String>,

    /// The work queue: sqs://QUEUE or its URL (QUEUE and its dead-letter queue QUEUE-dlq are
    /// created when missing).
    #[arg(long, value_name = "sqs://QUEUE", required_unless_present = "codepipeline_action")]
    pub queue: Option<String>,

    /// Instead of a fleet's builds, take the jobs of a CodePipeline custom action (owner
    /// Custom) as its job worker: poll for them, download the inputs with the job's
    /// credentials, run the project the action's ProjectName names (from --project), upload
    /// the outputs (SSE-KMS with the job's key) and answer with the build id and its exported
    /// variables. The CodePipeline endpoint comes from the standard chain
    /// (AWS_ENDPOINT_URL_CODEPIPELINE, AWS_ENDPOINT_URL, or the region's).
    #[arg(long, value_name = "provider=NAME[,category=Build][,version=1]", conflicts_with_all = ["store", "queue"])]
    pub codepipeline_action: Option<String>,

    /// With --codepipeline-action: a project a job may name, as a `batch-get-projects`
    /// element or a `create-project --cli-input-json` file; repeat for more.
    #[arg(long = "project", value_name = "NAME=PROJECT.json", requires = "codepipeline_action")]
    pub projects: Vec<String>,

    /// With --codepipeline-action: how long a job waits for its build before it answers with a
    /// continuation token (the build goes on; the action's next job waits for it again).
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS", requires = "codepipeline_action")]
    pub job_window: f64,

    /// Where sources and logs of running builds are kept.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// How many builds run at once on this machine (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Seconds a claimed build stays this worker's without a heartbeat; heartbeats (which
    /// also bring StopBuild) come every third of it. A worker silent longer loses the build:
    /// it ends FAULT and is auto-retried.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub lease: f64,

    /// Longest SQS long poll, in seconds (0-20).
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub poll: i32,

    /// The region and account in the ARNs (of auto-retried builds).
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "000000000000")]
    pub account: String,

    #[command(flatten)]
    pub builds: ServiceBuildArgs,
}

/// How `runspec serve` and `runspec worker` run builds.
#[derive(Debug, clap::Args)]
pub struct ServiceBuildArgs {
    /// Run every build in this machine's shell, whatever image its project names.
    #[arg(long)]
    pub host: bool,

    /// Run builds whose project names the image `runspec/host` in this machine's shell (other
    /// images run in Docker). Without it, or --host, a caller cannot choose the server's shell:
    /// such builds fail in PROVISIONING.
    #[arg(long)]
    pub host_image_allowed: bool,

    /// Hand this server's AWS credentials and region (the standard chain) to every build, as
    /// CodeBuild hands a build its service role's; their values are masked in the logs.
    #[arg(short = 'c', long)]
    pub aws_credentials: bool,

    /// A directory of this machine that LOCAL sources and git sources given as a local path
    /// (or file:// URL) may be read from; repeat for more. None by default: callers can then
    /// only name remote sources (https, ssh, git, S3), as on CodeBuild. The state directory is
    /// never a source.
    #[arg(long = "local-sources", value_name = "DIR")]
    pub local_sources: Vec<PathBuf>,

    /// Run every build on this machine's shell as this user (it must exist; the server must
    /// be root to become it), never as the server's own user. Its workspace is theirs; it
    /// cannot read the state directory, the server's environment or signal the server.
    /// Builds of one server share the user. Without it a host build can do whatever the
    /// server's user can: prefer images for a team.
    #[arg(long, value_name = "USER")]
    pub build_user: Option<String>,

    /// How privileged builds get Docker (see `runspec run --help`): in-image (a daemon in the
    /// build's own container, as on CodeBuild) or sidecar; host hands builds this machine's
    /// engine, so a build is root on the machine. A project's RUNSPEC_DOCKER variable chooses
    /// for its builds, except host, which needs --docker-host-allowed. Every image build gets
    /// a network of its own; what it made on the engine is removed with it.
    #[arg(long, value_enum, default_value_t = DockerMode::InImage, value_name = "MODE")]
    pub docker: DockerMode,

    /// The image of the --docker sidecar daemon (it must have dockerd).
    #[arg(long, value_name = "IMAGE", default_value = "docker:dind")]
    pub docker_sidecar_image: String,

    /// Let projects choose this machine's Docker engine (RUNSPEC_DOCKER=host).
    #[arg(long)]
    pub docker_host_allowed: bool,

    /// Lift the limits of the projects' compute types (by default a build gets its type's
    /// memory and vCPUs, as on CodeBuild).
    #[arg(long)]
    pub no_limits: bool,
}

impl From<ServiceBuildArgs> for crate::serve::BuildOptions {
    fn from(a: ServiceBuildArgs) -> Self {
        crate::serve::BuildOptions {
            host: a.host,
            host_image_allowed: a.host_image_allowed,
            aws_credentials: a.aws_credentials,
            local_sources: a.local_sources,
            build_user: a.build_user,
            docker_host_allowed: a.docker_host_allowed || a.docker == DockerMode::Host,
            docker: a.docker,
            docker_sidecar_image: Some(a.docker_sidecar_image),
            no_limits: a.no_limits,
            ..Default::default()
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:9870", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,

    /// Where projects, builds and logs are kept (SQLite and log files).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The key pairs allowed to call the API, as an AWS shared-credentials file. Default:
    /// STATE_DIR/credentials, created with a new key pair when missing.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,

    /// How many builds run at once (default: the number of cores). With --store: across the
    /// whole fleet (default: no limit beyond each worker's own).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Many machines: keep projects, builds and logs in this DynamoDB table
    /// (dynamodb://TABLE, created when missing) instead of SQLite; builds are run by `runspec
    /// worker`s, never by this server. Needs --queue. Any number of servers may share it.
    #[arg(long, value_name = "dynamodb://TABLE", requires = "queue")]
    pub store: Option<String>,

    /// With --store: the SQS queue (sqs://QUEUE or its URL) that hands builds to workers.
    #[arg(long, value_name = "sqs://QUEUE", requires = "store")]
    pub queue: Option<String>,

    /// With --store: the workers' lease, in seconds; the reaper here looks every third of it.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub lease: f64,

    /// The region and account in the ARNs the service hands out.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "000000000000")]
    pub account: String,

    #[command(flatten)]
    pub builds: ServiceBuildArgs,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Use it whenever the
    /// server listens beyond loopback: over plain HTTP anyone who sees a request can replay it
    /// for 15 minutes (a signature's life).
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The address forges and people reach this server at (e.g. https://ci.example.com),
    /// when it is not where it listens (a proxy, a tunnel): webhooks' payloadUrl starts with it.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// A repository that pipelines' git source actions read: REPO is the action's
    /// RepositoryName (CodeCommit) or FullRepositoryId (a connection), the value a git URL or
    /// a repository directory of this machine. Repeatable. A pipeline whose source names no
    /// such repository cannot start.
    #[arg(long = "pipeline-source", value_name = "REPO=GIT_URL|DIR")]
    pub pipeline_sources: Vec<String>,

    /// What pipelines' deploy actions do: skip (check what would be deployed), local (ECS
    /// services on this machine's Docker engine) or aws (through AWS, with this server's
    /// credentials).
    #[arg(long, value_enum, default_value_t = crate::pipeline::runner::Deploy::Skip, value_name = "MODE")]
    pub pipeline_deploy: crate::pipeline::runner::Deploy,
}

#[derive(Debug, clap::Args)]
pub struct RuntimesArgs {
    /// Print this catalog file instead (checks that it reads, and shows it as runspec reads it).
    #[arg(long, value_name = "RUNTIMES.yml")]
    pub runtimes: Option<PathBuf>,
}

pub use crate::build::EcrLogin;

#[derive(Debug, clap::Args)]
pub struct TestsRunArgs {
    /// The command the shard's files are appended to, e.g. `pytest`.
    #[arg(long, value_name = "COMMAND")]
    pub test_command: String,
    /// A command printing the test files, one per line, e.g. `codebuild-glob-search 'tests/**/*.py'`.
    #[arg(long, value_name = "COMMAND")]
    pub files_search: String,
    /// How files are split: equal-distribution (sorted, equal runs) or stability (by a hash of
    /// the name, so a file stays in its shard when others are added).
    #[arg(long, default_value = "equal-distribution", value_name = "STRATEGY")]
    pub sharding_strategy: String,
}

#[derive(Debug, clap::Args)]
pub struct GlobSearchArgs {
    #[arg(required = true, value_name = "PATTERN")]
    pub patterns: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct HashFilesArgs {
    /// Files or glob patterns, e.g. package-lock.json or '**/requirements*.txt'.
    #[arg(required = true, value_name = "PATTERN")]
    pub patterns: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Source directory. The first plain DIR is the primary source (default: the current
    /// directory); `ID=DIR` adds a secondary source, seen as CODEBUILD_SRC_DIR_ID.
    #[arg(short = 's', long = "source", value_name = "DIR | ID=DIR")]
    pub sources: Vec<String>,

    /// Buildspec file (default: buildspec.yml in the primary source).
    #[arg(short = 'b', long, value_name = "FILE")]
    pub buildspec: Option<PathBuf>,

    /// Where artifacts go: a local directory (ZIP packaging gives DIR/artifacts.zip) or
    /// s3://bucket/prefix. Overrides where the project's artifacts would go.
    #[arg(short = 'a', long, value_name = "DIR | s3://BUCKET/PREFIX")]
    pub artifacts: Option<String>,

    /// Environment variable override (highest precedence, like StartBuild's
    /// environmentVariablesOverride). Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// File of NAME=VALUE lines (the local agent's -e format: `#` comments, quotes kept).
    #[arg(short = 'e', long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// A CodeBuild project as JSON (an element of `aws codebuild batch-get-projects` output):
    /// name, environment variables (plain, Parameter Store, Secrets Manager), buildspec,
    /// artifacts, cache and timeout are honoured; other fields are named in a warning.
    #[arg(long, value_name = "PROJECT.json")]
    pub project: Option<PathBuf>,

    /// Run the build inside this Docker image (pulled when missing, with ECR credentials when it
    /// is in ECR): one container for the build, removed afterwards. Default: the project's
    /// `environment.image`, if any. Uses DOCKER_HOST or the default Docker socket.
    #[arg(short = 'i', long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Run on the host even though the project names an image.
    #[arg(long, conflicts_with = "image")]
    pub host: bool,

    /// Privileged mode (also from the project's `privilegedMode`): the build gets a Docker
    /// daemon as --docker says, so `docker build`, `docker compose` and `docker push` work in
    /// the buildspec. On the host, builds use the host's engine anyway.
    #[arg(short = 'd', long)]
    pub privileged: bool,

    /// How a privileged build gets Docker. in-image: as on CodeBuild, a daemon inside the build
    /// container (the image's dockerd, started before INSTALL), so `$PWD`, `.:/app` and
    /// `localhost` mean the build's own. sidecar: a Docker-in-Docker container beside the
    /// build's, sharing its network and workspace path, for images with only the Docker client
    /// (DOCKER_HOST=tcp://127.0.0.1:2375). host: this machine's engine through its socket; bind
    /// mounts then name host paths and `localhost` is the host's. A project's RUNSPEC_DOCKER
    /// variable chooses for its builds.
    #[arg(long, value_enum, default_value_t = DockerMode::InImage, value_name = "MODE")]
    pub docker: DockerMode,

    /// The image of the --docker sidecar daemon (it must have dockerd).
    #[arg(long, value_name = "IMAGE", default_value = "docker:dind")]
    pub docker_sidecar_image: String,

    /// CodeBuild's compute type (default: the project's computeType): the build gets its
    /// memory and vCPUs as limits, e.g. BUILD_GENERAL1_SMALL 3 GiB and 2 vCPUs, so a build that
    /// runs out of memory on CodeBuild runs out of memory here. Image builds get them from the
    /// engine; host builds from a cgroup v2 of their own, where the machine allows one.
    #[arg(long, value_name = "TYPE")]
    pub compute_type: Option<String>,

    /// Lift the compute type's limits.
    #[arg(long)]
    pub no_limits: bool,

    /// Give the build a Docker login for ECR (a token from the ECR API in a Docker config named
    /// by DOCKER_CONFIG), so `docker push <account>.dkr.ecr.<region>.amazonaws.com/…` needs no
    /// `docker login`. auto: when a command runs a registry client (docker, podman, buildah,
    /// skopeo, crane, …) and a command or variable names an ECR registry.
    #[arg(long, value_enum, default_value_t = EcrLogin::Auto, value_name = "WHEN")]
    pub ecr_login: EcrLogin,

    /// Build in the source directory itself instead of a copy.
    #[arg(short = 'm', long)]
    pub mount_source: bool,

    /// Pass the host's AWS credentials and region into the build (like codebuild_build.sh -c),
    /// resolved through the standard chain: environment, profiles, SSO, instance metadata.
    /// Their values are masked in the log.
    #[arg(short = 'c', long)]
    pub aws_credentials: bool,

    /// AWS profile for runspec's own AWS calls and for --aws-credentials (like AWS_PROFILE).
    #[arg(short = 'p', long, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Write the build as a CodeBuild `Build` JSON object to this file.
    #[arg(long, value_name = "BUILD.json")]
    pub result: Option<PathBuf>,

    /// Build timeout: minutes (decimals allowed), or a number with s, m or h (e.g. 90s).
    #[arg(long, value_name = "MINUTES")]
    pub timeout: Option<String>,

    /// Cache location: a directory or s3://bucket/prefix, used like a project cache of type
    /// LOCAL or S3 for the buildspec's `cache` section. Overrides the project's cache.
    #[arg(long, value_name = "DIR | s3://BUCKET/PREFIX")]
    pub cache: Option<String>,

    /// Where test reports go: one normalised JSON file per report group (summaries are in the
    /// build log either way).
    #[arg(short = 'r', long, value_name = "DIR")]
    pub reports: Option<PathBuf>,

    /// The runtime catalog for `install/runtime-versions`, in the format of CodeBuild's
    /// /codebuild/image/config/runtimes.yml. Default: the image's own file with --image, the
    /// version managers found on this machine otherwise (see `runspec runtimes`).
    #[arg(long, value_name = "RUNTIMES.yml")]
    pub runtimes: Option<PathBuf>,

    /// Stop at the first failing command, on a terminal: open a shell in the build's state
    /// (its directory and variables; inside the container for Docker builds), run the command
    /// again, continue as if it passed or with its failure, or abort. `codebuild-breakpoint`
    /// in a command opens such a shell with or without --debug whenever runspec has a
    /// terminal; without one, breakpoints are logged and skipped.
    #[arg(long, conflicts_with = "batch")]
    pub debug: bool,

    /// Run the buildspec's `batch` section as a batch build on this machine: one child build
    /// per task (build-list, build-graph, build-matrix, build-fanout), output prefixed with the
    /// task's identifier. --result gets {"buildBatch": …, "builds": […]}; --artifacts DIR
    /// gets each child's artifacts in DIR/<identifier>.
    #[arg(long)]
    pub batch: bool,

    /// With --batch: how many child builds run at once (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N", requires = "batch")]
    pub jobs: Option<usize>,

    /// With --batch: also put every child's primary artifact into one ZIP, each under its
    /// identifier (like the project's buildBatchConfig.combineArtifacts).
    #[arg(long, requires = "batch")]
    pub combine_artifacts: bool,

    /// With --batch: the whole batch's timeout, in minutes or with a unit (90s, 2h), instead
    /// of the project's buildBatchConfig.timeoutInMins (default 480).
    #[arg(long, value_name = "MINUTES", requires = "batch")]
    pub batch_timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The buildspec to check.
    #[arg(default_value = "buildspec.yml", value_name = "BUILDSPEC")]
    pub buildspec: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// A problem with the user's input: printed as `error: …` and exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
}

pub fn usage(message: impl Into<String>) -> UsageError {
    UsageError { message: message.into() }
}

/// Reads a `--runtimes` catalog; a file that does not read is a usage error.
pub(crate) fn read_catalog(path: &std::path::Path) -> Result<crate::runtimes::Catalog, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read the runtime catalog {}: {e}", path.display())))?;
    crate::runtimes::catalog::parse(&text).map_err(|e| {
        usage(format!("{}: {e} (expected the format of CodeBuild's runtimes.yml)", path.display()))
    })
}

fn runtimes(args: &RuntimesArgs) -> Result<u8, UsageError> {
    let catalog = match &args.runtimes {
        Some(path) => read_catalog(path)?,
        None => crate::runtimes::host::catalog(&|k| std::env::var(k).ok(), None),
    };
    if catalog.runtimes.is_empty() && args.runtimes.is_none() {
        eprintln!(
            "runspec: no version manager found on this machine (looked for {})",
            crate::runtimes::host::MANAGERS
        );
    }
    print!("{}", catalog.to_yaml());
    Ok(exit::OK)
}

fn serve(args: ServeArgs) -> Result<u8, UsageError> {
    let state_dir = match args.state_dir {
        Some(d) => d,
        None => crate::dirs::state()
            .map(|d| d.join("serve"))
            .ok_or_else(|| usage("cannot find a state directory: pass --state-dir"))?,
    };
    if let Some(url) = &args.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(usage(format!("--public-url {url}: expected an http:// or https:// address")));
    }
    let mut builds: crate::serve::BuildOptions = args.builds.into();
    builds.pipeline_deploy = args.pipeline_deploy;
    for given in &args.pipeline_sources {
        let (repo, location) = given
            .split_once('=')
            .filter(|(r, l)| !r.is_empty() && !l.is_empty())
            .ok_or_else(|| usage(format!("--pipeline-source {given}: expected REPO=GIT_URL|DIR")))?;
        let location = match crate::pipeline::fetch::Input::parse(location)
            .map_err(|e| usage(format!("--pipeline-source {given}: {e}")))?
        {
            crate::pipeline::fetch::Input::Dir(dir) => dir.display().to_string(),
            crate::pipeline::fetch::Input::Git { revision: Some(_), .. } => {
                return Err(usage(format!(
                    "--pipeline-source {given}: name the repository without a revision (the action's BranchName, or StartPipelineExecution's sourceRevisions, chooses it)"
                )));
            }
            crate::pipeline::fetch::Input::Git { url, .. } => url,
        };
        builds.pipeline_sources.insert(repo.to_string(), location);
    }
    let options = crate::serve::Options {
        listen: args.listen,
        state_dir,
        credentials: args.credentials,
        concurrency: args
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        region: args.region,
        account: args.account,
        builds,
        tls: args.tls_cert.zip(args.tls_key),
        fleet: args.store.map(|store| crate::serve::FleetOptions {
            store,
            queue: args.queue.unwrap_or_default(),
            lease_s: args.lease,
            limit: args.concurrency.map(|c| c as u64),
        }),
        public_url: args.public_url,
    };
    if let Some(f) = &options.fleet {
        crate::serve::fleet::table_of(&f.store).map_err(usage)?;
        crate::serve::fleet::queue_of(&f.queue).map_err(usage)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(crate::serve::serve(options, |ready| {
            eprintln!("runspec serve: listening on {}://{}", ready.scheme, ready.addr);
            eprintln!("runspec serve: requests must be signed with a key from {}", ready.keys.display());
            eprintln!("runspec serve: web page at {}", ready.page);
        }))
        .map_err(usage)?;
    Ok(exit::OK)
}

fn worker(args: WorkerArgs) -> Result<u8, UsageError> {
    if let Some(spec) = &args.codepipeline_action {
        return job_worker(spec, &args);
    }
    let (Some(store), Some(queue)) = (args.store.clone(), args.queue.clone()) else {
        return Err(usage("--store and --queue name the fleet's store and queue"));
    };
    crate::serve::fleet::table_of(&store).map_err(usage)?;
    crate::serve::fleet::queue_of(&queue).map_err(usage)?;
    if !(args.lease.is_finite() && args.lease >= 1.0) {
        return Err(usage("--lease must be at least 1 second"));
    }
    let state_dir = match args.state_dir {
        Some(d) => d,
        None => crate::dirs::state()
            .map(|d| d.join("worker"))
            .ok_or_else(|| usage("cannot find a state directory: pass --state-dir"))?,
    };
    let options = crate::serve::worker::Options {
        store,
        queue: queue.clone(),
        state_dir,
        concurrency: args
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        lease_s: args.lease,
        wait_s: args.poll,
        region: args.region,
        account: args.account,
        builds: args.builds.into(),
    };
    crate::serve::worker::run(options, |owner| {
        eprintln!("runspec worker: {owner} taking builds from {queue}");
    })
    .map_err(usage)?;
    Ok(exit::OK)
}

/// `runspec worker --codepipeline-action`: a custom action's job worker until SIGTERM or Ctrl-C.
fn job_worker(spec: &str, args: &WorkerArgs) -> Result<u8, UsageError> {
    let action = crate::pipeline::job_worker::action_type(spec)
        .map_err(|e| usage(format!("--codepipeline-action {spec}: {e}")))?;
    if !(args.job_window.is_finite() && args.job_window >= 1.0) {
        return Err(usage("--job-window must be at least 1 second"));
    }
    let mut projects = std::collections::BTreeMap::new();
    for p in &args.projects {
        let (name, file) = p
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| usage(format!("--project {p}: expected NAME=PROJECT.json")))?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| usage(format!("--project {p}: cannot read `{file}`: {e}")))?;
        let mut project = crate::project::parse(&text).map_err(|e| usage(format!("--project {p}: {e}")))?;
        project.name = Some(name.to_string());
        projects.insert(name.to_string(), project);
    }
    let work_dir = match &args.state_dir {
        Some(d) => d.join("jobs"),
        None => crate::dirs::state()
            .map(|d| d.join("worker").join("jobs"))
            .ok_or_else(|| usage("cannot find a state directory: pass --state-dir"))?,
    };
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| usage(format!("cannot make {}: {e}", work_dir.display())))?;
    let b = &args.builds;
    let template = crate::build::BuildRequest {
        docker: b.docker,
        docker_sidecar_image: Some(b.docker_sidecar_image.clone()),
        docker_host_allowed: b.docker_host_allowed || b.docker == DockerMode::Host,
        own_network: true,
        no_limits: b.no_limits,
        aws_credentials: b.aws_credentials,
        ..Default::default()
    };
    let options = crate::pipeline::job_worker::Options {
        action,
        projects,
        work_dir,
        window: std::time::Duration::from_secs_f64(args.job_window),
        idle: std::time::Duration::from_secs(1),
        template,
        host: b.host,
        host_image_allowed: b.host_image_allowed || b.host,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(async {
            let stop = run::stop_signal();
            let api = crate::json_api::Client::connect(
                "codepipeline",
                "CodePipeline_20150709",
                Some(&args.region),
                None,
            )
            .await?;
            let shown =
                format!("{}/{}/{}", options.action.category, options.action.provider, options.action.version);
            let endpoint = api.endpoint().to_string();
            crate::pipeline::job_worker::serve(api, options, stop, || {
                eprintln!("runspec worker: taking the jobs of the custom action {shown} from {endpoint}");
            })
            .await
        })
        .map_err(usage)?;
    Ok(exit::OK)
}

/// `codebuild-glob-search`: files only, relative to the current directory, sorted.
fn glob_search(args: &GlobSearchArgs) -> Result<u8, UsageError> {
    let mut builder = globset::GlobSetBuilder::new();
    for p in &args.patterns {
        let glob = globset::GlobBuilder::new(p.trim_start_matches("./"))
            .literal_separator(true)
            .build()
            .map_err(|e| usage(format!("`{p}`: {e}")))?;
        builder.add(glob);
    }
    let set = builder.build().map_err(|e| usage(e.to_string()))?;
    let mut found: Vec<String> = walkdir::WalkDir::new(".")
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.path().strip_prefix(".").ok().map(|p| p.to_string_lossy().into_owned()))
        .filter(|p| set.is_match(p))
        .collect();
    found.sort();
    for f in found {
        println!("{f}");
    }
    Ok(exit::OK)
}

/// `codebuild-tests-run`: this shard's files (RUNSPEC_SHARD_INDEX of RUNSPEC_SHARD_COUNT, set in
/// fanout builds; all files otherwise) appended to the test command, run by `sh`.
fn tests_run(args: &TestsRunArgs) -> Result<u8, UsageError> {
    let strategy = crate::batch::shard::Strategy::parse(&args.sharding_strategy).map_err(usage)?;
    let listed = std::process::Command::new("sh")
        .arg("-c")
        .arg(&args.files_search)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| usage(format!("cannot run --files-search: {e}")))?;
    if !listed.status.success() {
        return Err(usage(format!("--files-search `{}` failed: {}", args.files_search, listed.status)));
    }
    let files: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let number = |var: &str, default: u32| {
        std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(default)
    };
    let (index, count) = (number("RUNSPEC_SHARD_INDEX", 0), number("RUNSPEC_SHARD_COUNT", 1).max(1));
    let mine = crate::batch::shard::pick(&files, index, count, strategy);
    eprintln!(
        "codebuild-tests-run: shard {} of {count}: {} of {} test files",
        index + 1,
        mine.len(),
        files.len()
    );
    if mine.is_empty() {
        return Ok(exit::OK);
    }
    let quoted: Vec<String> = mine.iter().map(|f| crate::exec::wrapper::sh_quote(f)).collect();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{} {}", args.test_command, quoted.join(" ")))
        .env("CODEBUILD_CURRENT_SHARD_FILES", mine.join("\n"))
        .status()
        .map_err(|e| usage(format!("cannot run --test-command: {e}")))?;
    Ok(status.code().map_or(exit::FAILED, |c| c.clamp(0, 255) as u8))
}

fn hash_files(args: &HashFilesArgs) -> Result<u8, UsageError> {
    let cwd =
        std::env::current_dir().map_err(|e| usage(format!("cannot read the current directory: {e}")))?;
    let found = crate::artifacts::collect::collect(&cwd, "", &args.patterns, &[], false, false)
        .map_err(|e| usage(e.to_string()))?;
    if found.files.is_empty() {
        return Err(usage(format!("no file matches {}", args.patterns.join(" "))));
    }
    let mut sources: Vec<_> = found.files.iter().map(|f| (f.dest.clone(), f)).collect();
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    // The hash covers names and contents, so renaming a file changes it too.
    use sha2::Digest;
    let mut all = sha2::Sha256::new();
    for (name, file) in sources {
        let sums = file
            .open()
            .and_then(crate::artifacts::package::checksums_of)
            .map_err(|e| usage(format!("{name}: {e}")))?;
        all.update(name.as_bytes());
        all.update([0]);
        all.update(sums.sha256.as_bytes());
        all.update([b'\n']);
    }
    println!("{}", all.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>());
    Ok(exit::OK)
}

/// The single-threaded async runtime every subcommand runs on.
fn runtime() -> Result<tokio::runtime::Runtime, UsageError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the async runtime: {e}")))
}

pub fn main(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::replay(args),
        Command::Check(args) => check::check(&args),
        Command::HashFiles(args) => hash_files(&args),
        Command::TestsRun(args) => tests_run(&args),
        Command::GlobSearch(args) => glob_search(&args),
        Command::Plugin(cmd) => plugin::main(cmd),
        Command::Image(cmd) => image::main(cmd),
        Command::Pipeline(cmd) => pipeline::main(cmd),
        Command::Runtimes(args) => runtimes(&args),
        Command::Serve(args) => serve(args),
        Command::Worker(args) => worker(args),
    };
    let code = code.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    });
    ExitCode::from(code)
}
