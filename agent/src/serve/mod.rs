//! `runspec serve`: a CodeBuild-compatible build service on this machine. The AWS CLI and SDKs
//! create projects, start, watch and stop builds through the CodeBuild API and read their logs
//! through CloudWatch Logs' API, all on one endpoint; builds are queued and run by the same path
//! as `runspec run`; projects, builds and logs are kept in a state directory and survive a
//! restart.
//!
//! - [`api`]: the operations and AWS's error shapes;
//! - [`auth`]: Signature Version 4 checks against a credentials file;
//! - [`store`]: projects and builds in SQLite, behind a trait;
//! - [`dispatch`]: the queue, the concurrency limits, one thread per running build;
//! - [`request`]: StartBuild overrides on a project (pure); [`sources`]: git and S3 sources;
//! - [`logs`]: the build logs, stamped per line;
//! - many machines: [`fleet`] (what servers and workers share), [`dynamo`] (the store on
//!   DynamoDB, with leases), [`sqs`] (the work queue), [`worker`] (`runspec worker`).

pub mod api;
pub mod auth;
pub mod batches;
pub mod dispatch;
pub mod dynamo;
pub mod fleet;
pub mod logs;
pub mod request;
pub mod sources;
pub mod sqs;
pub mod store;
pub mod web;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use api::ApiError;
use dispatch::Service;

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
    /// Every build on the host shell, whatever its image.
    pub host: bool,
    /// Hand the server's AWS credentials to every build (as CodeBuild hands a build its
    /// service role's).
    pub aws_credentials: bool,
    /// Many machines: the shared store and queue (`None`: SQLite, and builds run here).
    pub fleet: Option<FleetOptions>,
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

/// The largest request body read (CodeBuild's inputs are small; a buildspec override is the
/// largest part).
const BODY_LIMIT: usize = 8 * 1024 * 1024;

struct App {
    service: Arc<Service>,
    keys: auth::Keys,
    /// The web page's key (see [`web`]).
    web_token: String,
}

/// What a started server tells its caller.
pub struct Ready<'a> {
    pub addr: SocketAddr,
    /// The credentials file whose keys may call the API.
    pub keys: &'a std::path::Path,
    /// The web page, with its token.
    pub page: String,
}

/// Runs the service until SIGTERM or Ctrl-C; running builds are stopped and recorded first.
pub async fn serve(options: Options, ready: impl FnOnce(Ready<'_>)) -> Result<(), String> {
    std::fs::create_dir_all(&options.state_dir)
        .map_err(|e| format!("cannot make the state directory {}: {e}", options.state_dir.display()))?;
    let (keys, key_file) = match &options.credentials {
        Some(path) => (auth::Keys::read(path)?, path.clone()),
        None => {
            let path = options.state_dir.join("credentials");
            let keys = if path.exists() { auth::Keys::read(&path)? } else { auth::Keys::create(&path)? };
            (keys, path)
        }
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
        options.host,
    );
    service.aws_credentials = options.aws_credentials;
    service.fleet = fleet.clone();
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
        let ended = service.recover().map_err(|e| e.to_string())?;
        let batches = service.recover_batches().map_err(|e| e.to_string())?;
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
        tokio::spawn(Arc::clone(&service).dispatch());
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let web_token = web::token(&options.state_dir)?;
    let page = format!("http://{addr}/?token={web_token}");
    let app = Arc::new(App { service: Arc::clone(&service), keys, web_token });
    let router = axum::Router::new()
        .route("/", axum::routing::post(api_call).get(web::index))
        .route("/builds/{id}", axum::routing::get(web::build))
        .route("/builds/{id}/log", axum::routing::get(web::log))
        .route("/batches/{id}", axum::routing::get(web::batch))
        .route("/builds/{id}/stop", axum::routing::post(web::stop))
        .route("/builds/{id}/retry", axum::routing::post(web::retry))
        .fallback(not_here)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(app);
    ready(Ready { addr, keys: &key_file, page });
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::exec::stop_requested())
        .await
        .map_err(|e| e.to_string())?;
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

async fn api_call(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return aws_error(&ApiError {
                status: 413,
                kind: "RequestEntityTooLargeException",
                message: format!("the request body is larger than {} MiB", BODY_LIMIT >> 20),
            });
        }
    };
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let caller = match app.keys.verify(
        method.as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        &pairs,
        &bytes,
        std::time::SystemTime::now(),
    ) {
        Ok(c) => c,
        Err(r) => return aws_error(&ApiError { status: r.status, kind: r.kind, message: r.message }),
    };
    let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return aws_error(&api::invalid("the request has no X-Amz-Target header"));
    };
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
    let service = Arc::clone(&app.service);
    // The store is synchronous and StopBuild waits a little: off the async threads.
    let answer = tokio::task::spawn_blocking(move || api::call(&service, &target, &body, &caller)).await;
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
