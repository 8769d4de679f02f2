//! `runspec serve`: a CodeBuild-compatible build service on this machine. The AWS CLI and SDKs
//! create projects, start, watch and stop builds through the CodeBuild API and read their logs
//! through CloudWatch Logs' API, and keep and run pipelines through CodePipeline's, all on one
//! endpoint; builds are queued and run by the same path as `runspec run`, pipeline executions
//! by that of `runspec pipeline run` ([`pipelines`]); projects, builds, pipelines and logs are
//! kept in a state directory and survive a restart.
//!
//! Layers, each knowing only the ones below it:
//!
//! - [`http`] (the listener, TLS, bounds) and [`auth`] (Signature Version 4 against a
//!   credentials file), then [`wire`]: AWS's JSON, checked against botocore's model, read into
//!   each operation's input type and written back from its output type; the only JSON here;
//! - [`service`]: the operations on typed data (projects, builds, batches, logs); [`web`], the
//!   page for people, is another client of it;
//! - [`store`] (SQLite) and [`dynamo`] (DynamoDB, with leases) behind the `Store` trait;
//!   [`request`] (StartBuild's overrides on a project, pure); [`logs`] (the build logs);
//! - running builds: [`runner`] (the queue and a build's run on this machine), [`fetch`]
//!   (their sources, through [`crate::source`]), [`pipelines`] (executions, their builds through
//!   the queue, their approvals); many machines: [`fleet`] (what servers and
//!   workers share), [`sqs`] (the work queue), [`worker`] (`runspec worker`), [`reaper`].

pub mod auth;
pub mod dynamo;
pub mod fetch;
pub mod fleet;
pub mod http;
pub mod logs;
pub mod pipelines;
pub mod reaper;
pub mod request;
pub mod runner;
pub mod service;
pub mod sqs;
pub mod store;
pub mod web;
pub mod wire;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use service::Service;
use wire::ApiError;

/// Runs `f` to its end on `runtime` from a thread of its own, so a synchronous store call works
/// from anywhere, inside another runtime too (the DynamoDB store and the SQS queue).
pub(crate) fn block_on_own<F: std::future::Future + Send>(
    runtime: &tokio::runtime::Runtime,
    f: F,
) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|scope| scope.spawn(|| runtime.block_on(f)).join())
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// A new secret for a key the server hands out (the web page's, a webhook's): 244 random bits
/// from two v4 uuids, as hex.
pub fn random_token() -> String {
    (0..2).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect()
}

/// What `runspec serve` was told.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// A credentials file; `None`: `<state>/credentials`, created when missing.
    pub credentials: Option<PathBuf>,
    pub concurrency: usize,
    pub region: String,
    pub account: String,
    /// How builds run here.
    pub builds: BuildOptions,
    /// HTTPS: the certificate chain and the key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Many machines: the shared store and queue (`None`: SQLite, and builds run here).
    pub fleet: Option<FleetOptions>,
    /// The address forges and people reach the server at (`--public-url`): webhooks'
    /// `payloadUrl`; `None`: where it listens.
    pub public_url: Option<String>,
}

/// How a service (`runspec serve`, `runspec worker`) runs builds: the operator's choices.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Every build on this machine's shell, whatever its image (`--host`).
    pub host: bool,
    /// Builds whose image is `runspec/host` run on this machine's shell (`--host-image-allowed`);
    /// without it (or `host`) they fail: a caller cannot choose the server's shell.
    pub host_image_allowed: bool,
    /// Hand the server's AWS credentials to every build (as CodeBuild hands a build its
    /// service role's).
    pub aws_credentials: bool,
    /// Directories of this machine that LOCAL sources and local git repositories may be read
    /// from (none by default).
    pub local_sources: Vec<PathBuf>,
    /// The user host builds run as (`--build-user`).
    pub build_user: Option<String>,
    /// How privileged builds get Docker, unless a project's `RUNSPEC_DOCKER` says otherwise.
    pub docker: crate::exec::docker::daemon::DockerMode,
    pub docker_sidecar_image: Option<String>,
    /// Projects may choose this machine's engine (`RUNSPEC_DOCKER=host`).
    pub docker_host_allowed: bool,
    /// Builds ignore their compute type's limits (`--no-limits`).
    pub no_limits: bool,
    /// The repositories pipelines' source actions read, by repository name (`RepositoryName`,
    /// `FullRepositoryId`): a git URL or a directory (`--pipeline-source REPO=URL|DIR`).
    pub pipeline_sources: std::collections::BTreeMap<String, String>,
    /// What pipelines' deploy actions do (`--pipeline-deploy`; nothing by default).
    pub pipeline_deploy: crate::pipeline::runner::Deploy,
}

/// `runspec serve --store dynamodb://TABLE --queue sqs://QUEUE`.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub store: String,
    pub queue: String,
    /// How often the reaper looks (a third of this), in seconds.
    pub lease_s: f64,
    /// The fleet-wide limit on running builds, when given.
    pub limit: Option<u64>,
}

/// A build thread's stack. The buildspec parser bounds nesting (see
/// [`crate::buildspec::yaml`]), so no input needs more; this is the room the engine, the
/// Docker client and the AWS SDK need with a margin.
pub const BUILD_STACK: usize = 16 << 20;

/// Seconds a build may wait in the queue for `minutes` of `queuedTimeoutInMinutes`. Debug
/// builds only: `RUNSPEC_TEST_QUEUE_MINUTE` sets a minute's length in seconds, so the tests see
/// a queue timeout within the model's bounds (5 minutes at least) without waiting for one.
pub fn queue_seconds(minutes: f64) -> f64 {
    #[cfg(debug_assertions)]
    if let Some(minute) = std::env::var("RUNSPEC_TEST_QUEUE_MINUTE").ok().and_then(|m| m.parse::<f64>().ok())
    {
        return minutes * minute;
    }
    minutes * 60.0
}

/// Makes `dir` (and its parents) and keeps it to the server's user alone (0700), whatever the
/// umask or an earlier run left: it holds keys, the database and every build's log.
pub fn private_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| format!("cannot make the state directory {}: {e}", dir.display()))
}

/// `--build-user`: a user of this machine, which the server can become.
pub fn check_build_user(name: &str) -> Result<(), String> {
    let user = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .ok_or_else(|| format!("--build-user {name}: no such user on this machine"))?;
    let me = nix::unistd::Uid::effective();
    if user.uid != me {
        if !me.is_root() {
            return Err(format!(
                "--build-user {name}: the server must run as root to run builds as another user"
            ));
        }
        if crate::exec::host::which("setpriv").is_none() {
            return Err(format!("--build-user {name}: needs `setpriv` (util-linux) on the PATH"));
        }
    }
    Ok(())
}

/// The largest API request body read (CodeBuild's inputs are small; a buildspec override is the
/// largest part).
const BODY_LIMIT: usize = 8 << 20;
/// Bytes of request bodies held at once before their signatures are checked, across all
/// clients: beyond it a request is answered ThrottlingException (SDKs retry those).
const UNVERIFIED_BUDGET: usize = 64 << 20;
/// A request body must arrive within this.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

struct App {
    service: Arc<Service>,
    keys: auth::KeyFile,
    /// The web page's key (see [`web`]).
    web_token: String,
    /// [`UNVERIFIED_BUDGET`] in KiB.
    unverified: Arc<tokio::sync::Semaphore>,
}

/// What a started server tells its caller.
pub struct Ready<'a> {
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The credentials file whose keys may call the API.
    pub keys: &'a std::path::Path,
    /// The web page, with its token.
    pub page: String,
}

/// Runs the service until SIGTERM or Ctrl-C; running builds are stopped and recorded first.
pub async fn serve(options: Options, ready: impl FnOnce(Ready<'_>)) -> Result<(), String> {
    private_dir(&options.state_dir)?;
    if let Some(user) = &options.builds.build_user {
        check_build_user(user)?;
    }
    let key_file = match &options.credentials {
        Some(path) => path.clone(),
        None => {
            let path = options.state_dir.join("credentials");
            if !path.exists() {
                auth::Keys::create(&path)?;
            }
            path
        }
    };
    let keys = auth::KeyFile::open(&key_file)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(http::tls_config(cert, key)?),
        None => None,
    };
    let fleet = match &options.fleet {
        Some(f) => {
            let (f, region) = (f.clone(), options.region.clone());
            let fleet =
                tokio::task::spawn_blocking(move || fleet::Fleet::connect(&f.store, &f.queue, &region))
                    .await
                    .map_err(|e| e.to_string())??;
            Some(Arc::new(fleet))
        }
        None => None,
    };
    let store: Arc<dyn store::Store> = match &fleet {
        Some(f) => Arc::clone(&f.store) as Arc<dyn store::Store>,
        None => Arc::new(
            store::SqliteStore::open(&options.state_dir.join("runspec.db")).map_err(|e| e.to_string())?,
        ),
    };
    let mut service = Service::new(
        store,
        options.state_dir.clone(),
        options.concurrency.max(1),
        options.region.clone(),
        options.account.clone(),
        options.builds.clone(),
    );
    service.policy = crate::source::Policy::service(&options.builds.local_sources, &options.state_dir)?;
    service.fleet = fleet.clone();
    crate::exec::docker::owned::sweep_at_start("runspec serve");
    let service = Arc::new(service);
    if let (Some(fleet), Some(f)) = (&fleet, &options.fleet) {
        // Builds run on workers; this server answers the API and runs the reaper.
        if f.limit.is_some() {
            let (fleet, limit) = (Arc::clone(fleet), f.limit);
            tokio::task::spawn_blocking(move || fleet.store.set_fleet_limit(limit))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        // Runs for the life of the process.
        let never = Arc::new(std::sync::atomic::AtomicBool::new(false));
        worker::spawn_reaper(&service, fleet, f.lease_s, &never)?;
    } else {
        let ended = service.recover().map_err(|e| format!("{e:?}"))?;
        let batches = service.recover_batches().map_err(|e| format!("{e:?}"))?;
        if batches > 0 {
            tracing::warn!(
                "{batches} batch(es) were running when the server last stopped; they are recorded as FAULT"
            );
        }
        if ended > 0 {
            tracing::warn!(
                "{ended} build(s) were running when the server last stopped; they are recorded as FAULT"
            );
        }
        let pipelines = Arc::clone(&service);
        tokio::task::spawn_blocking(move || pipelines::end_orphans(&pipelines))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        tokio::spawn(runner::dispatch(Arc::clone(&service)));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let web_token = web::token(&options.state_dir)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let _ =
        service.public_url.set(options.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}")));
    let page = format!("{scheme}://{addr}/?token={web_token}");
    let app = Arc::new(App {
        service: Arc::clone(&service),
        keys,
        web_token,
        unverified: Arc::new(tokio::sync::Semaphore::new(UNVERIFIED_BUDGET >> 10)),
    });
    let router = axum::Router::new()
        .route("/", axum::routing::post(api_call).get(web::index))
        .route("/builds/{id}", axum::routing::get(web::build))
        .route("/builds/{id}/log", axum::routing::get(web::log))
        .route("/batches/{id}", axum::routing::get(web::batch))
        .route("/pipelines/{name}", axum::routing::get(web::pipeline))
        .route("/webhooks/{project}", axum::routing::post(webhook_delivery))
        .route("/builds/{id}/stop", axum::routing::post(web::stop))
        .route("/builds/{id}/retry", axum::routing::post(web::retry))
        .route("/page.css", axum::routing::get(web::stylesheet))
        .route("/page.js", axum::routing::get(web::script))
        .fallback(not_here)
        .layer(axum::extract::DefaultBodyLimit::max(web::FORM_LIMIT))
        .with_state(app);
    ready(Ready { addr, keys: &key_file, page, scheme });
    http::serve(listener, router, tls, crate::exec::stop_requested()).await;
    let stopping = Arc::clone(&service);
    let _ = tokio::task::spawn_blocking(move || stopping.stop_all()).await;
    Ok(())
}

fn aws_error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"__type": e.kind, "message": e.message}).to_string();
    (status, [("content-type", "application/x-amz-json-1.1"), ("x-amzn-errortype", e.kind)], body)
        .into_response()
}

async fn not_here(method: Method, uri: Uri) -> Response {
    aws_error(&ApiError {
        status: 404,
        kind: "UnknownOperationException",
        message: format!(
            "runspec serve answers POST / (the CodeBuild and CloudWatch Logs APIs); not {method} {uri}"
        ),
    })
}

/// A request body of at most `limit` bytes that arrives within [`BODY_TIMEOUT`], with its share
/// of the budget of bodies not yet verified (hold the permit until the body is verified).
async fn read_bounded(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(axum::body::Bytes, tokio::sync::OwnedSemaphorePermit), ApiError> {
    let too_large = || ApiError {
        status: 413,
        kind: "RequestEntityTooLargeException",
        message: format!("the request body is larger than {} MiB", limit >> 20),
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let reserve = declared.map_or(limit, |n| n as usize).div_ceil(1024).max(1) as u32;
    let Ok(reserved) = Arc::clone(&app.unverified).try_acquire_many_owned(reserve) else {
        return Err(ApiError {
            status: 400,
            kind: "ThrottlingException",
            message: "Rate exceeded: the server is reading too many request bodies at once; retry".into(),
        });
    };
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => Ok((b, reserved)),
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err(ApiError {
            status: 408,
            kind: "RequestTimeoutException",
            message: format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
        }),
    }
}

/// GitHub's cap on a delivery's payload ("Webhook events and payloads": 25 MB).
const DELIVERY_LIMIT: usize = 25 << 20;

/// `POST /webhooks/<project>`: a forge's delivery ([`service::Service::deliver`]).
async fn webhook_delivery(
    State(app): State<Arc<App>>,
    axum::extract::Path(project): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let reply = |status: u16, message: &str, build: Option<&str>| {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            code,
            [("content-type", "application/json")],
            json!({"message": message, "build": build}).to_string(),
        )
            .into_response()
    };
    let (bytes, reserved) = match read_bounded(&app, &headers, body, DELIVERY_LIMIT).await {
        Ok(read) => read,
        Err(e) => return reply(e.status, &e.message, None),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let given = service::webhooks::DeliveryHeaders {
        event: header("x-github-event"),
        signature: header("x-hub-signature-256"),
        delivery: header("x-github-delivery"),
        user_agent: header("user-agent"),
        gitlab_event: header("x-gitlab-event"),
        gitlab_token: header("x-gitlab-token"),
        gitlab_delivery: header("idempotency-key").or_else(|| header("x-gitlab-event-uuid")),
    };
    let service = Arc::clone(&app.service);
    let delivered = tokio::task::spawn_blocking(move || {
        let d = service.deliver(&project, &given, &bytes);
        drop(reserved);
        d
    })
    .await;
    match delivered {
        Ok(d) => reply(d.status, &d.message, d.build.as_deref()),
        Err(e) => reply(500, &format!("the delivery failed: {e}"), None),
    }
}

async fn api_call(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return aws_error(&wire::invalid("the request has no X-Amz-Target header"));
    };
    // The signing name of the target's service, as the SDKs sign for it.
    let service = match target.split_once('.').map(|(prefix, _)| prefix) {
        Some(p) if p.starts_with("Logs_") => "logs",
        Some(p) if p.starts_with("CodePipeline_") => "codepipeline",
        _ => "codebuild",
    };
    let scope = auth::Scope { region: &app.service.region, service };
    // Everything but the body's hash is checked before a byte of the body is read.
    let keys = app.keys.keys();
    let signed = match keys.precheck(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        &pairs,
        std::time::SystemTime::now(),
        &scope,
    ) {
        Ok(s) => s,
        Err(r) => return aws_error(&ApiError { status: r.status, kind: r.kind, message: r.message }),
    };
    let (bytes, _reserved) = match read_bounded(&app, &headers, body, BODY_LIMIT).await {
        Ok(read) => read,
        Err(e) => return aws_error(&e),
    };
    let caller = match signed.verify(&bytes) {
        Ok(c) => c,
        Err(r) => return aws_error(&ApiError { status: r.status, kind: r.kind, message: r.message }),
    };
    drop(_reserved);
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) | Err(_) => {
                return aws_error(&ApiError {
                    status: 400,
                    kind: "SerializationException",
                    message: "the request body is not a JSON object".into(),
                });
            }
        }
    };
    if let Err(e) = wire::check(&target, &body) {
        return aws_error(&e);
    }
    let service = Arc::clone(&app.service);
    // The store is synchronous and StopBuild waits a little: off the async threads.
    let answer = tokio::task::spawn_blocking(move || wire::call(&service, &target, body, &caller)).await;
    match answer {
        Ok(Ok(v)) => {
            (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], v.to_string()).into_response()
        }
        Ok(Err(e)) => aws_error(&e),
        Err(e) => aws_error(&ApiError {
            status: 500,
            kind: "InternalFailure",
            message: format!("the request failed: {e}"),
        }),
    }
}
