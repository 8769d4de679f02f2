//! The page for people: `/` lists projects and recent builds; `/builds/<id>` shows a build's
//! phases and its log as it grows, with Stop and Retry; `/batches/<id>` a batch as its graph.
//! Server-rendered HTML, a served stylesheet and a few lines of served script (`/page.js`)
//! that fetch the log's new lines; no build toolchain. Another client of the service layer.
//!
//! Browsers cannot sign requests, so the page has its own key: a random token in the state
//! directory, in the URL `runspec serve` prints. Opening that URL sets it as a strict,
//! HTTP-only cookie and redirects to the same page without it; every page and action needs the
//! cookie, and actions also carry a form key derived from it (never the token itself). Every
//! answer forbids framing, sniffing, caching, referrers and any script or style not served here.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use super::App;
use crate::shapes::codebuild as cb;

const COOKIE: &str = "runspec_token";

/// The largest body a page's form sends (a key); read only once the cookie is good.
pub(super) const FORM_LIMIT: usize = 4 << 10;

/// What every answer of the page carries.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page's token: read from the state directory, made on first start.
pub fn token(state_dir: &Path) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = state_dir.join("web-token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let t = super::random_token();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(t.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(t)
}

/// The key a page's forms carry: derived from the token, so the page never holds the token.
fn form_key(token: &str) -> String {
    hex::encode(Sha256::digest(format!("runspec form key\n{token}").as_bytes()))
}

#[derive(serde::Deserialize, Default)]
pub(super) struct TokenQuery {
    token: Option<String>,
    from: Option<u64>,
}

/// The `key` field of a form body (`application/x-www-form-urlencoded`).
fn form_field(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned()
        })
    })
}

fn cookie_ok(app: &App, headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && constant_eq(v, &app.web_token))
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The headers every answer of the page has.
fn guarded(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}

/// The token in the URL: set the cookie and go to the same page without it; no cookie: say how
/// to get in.
fn gate(app: &App, headers: &HeaderMap, query: &TokenQuery, path: &str) -> Option<Response> {
    if let Some(t) = &query.token {
        if constant_eq(t, &app.web_token) {
            let cookie = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
            return Some(([(header::SET_COOKIE, cookie)], Redirect::to(path)).into_response());
        }
        return Some(denied());
    }
    if cookie_ok(app, headers) { None } else { Some(denied()) }
}

fn denied() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(page(
            "runspec serve",
            "<p>Open the address <code>runspec serve</code> printed when it started (it carries the page's token; it is also in the state directory's <code>web-token</code> file).</p>",
        )),
    )
        .into_response()
}

/// HTML text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn url_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><link rel=\"stylesheet\" href=\"/page.css\"><script src=\"/page.js\" defer></script></head><body>{body}</body></html>",
        esc(title)
    )
}

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}\
.SUCCEEDED{color:#17813b}.FAILED,.FAULT,.TIMED_OUT{color:#c62828}.STOPPED{color:#8d6e00}.IN_PROGRESS{color:#1565c0}\
pre{background:#111;color:#ddd;padding:1em;max-height:70vh;overflow:auto;white-space:pre-wrap}\
form{display:inline}button{margin-right:.5em}\
#graph{display:flex;gap:2em;align-items:flex-start}.level{display:flex;flex-direction:column;gap:.8em}\
.child{border:1px solid #999;border-radius:6px;padding:.5em 1em}\
.Succeeded{color:#17813b}.Failed{color:#c62828}.Stopped,.Stopping,.Abandoned,.Skipped{color:#8d6e00}.InProgress{color:#1565c0}\
.stages{display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap}.stage{border:1px solid #999;border-radius:6px;padding:0 1em 1em}";

/// The page's script: a build's log, polled from where it was left; a running batch reloads.
const JS: &str = r#""use strict";
document.addEventListener('DOMContentLoaded', () => {
  const log = document.getElementById('log');
  if (log) {
    const status = document.getElementById('status');
    const source = log.dataset.source;
    const wasRunning = log.dataset.running === 'true';
    let next = 0;
    async function poll() {
      const r = await fetch(source + '?from=' + next, {credentials: 'same-origin'});
      if (!r.ok) return setTimeout(poll, 1000);
      const d = await r.json();
      next = d.next;
      if (d.text) { log.textContent += d.text; log.scrollTop = log.scrollHeight; }
      status.textContent = d.shown; status.className = d.status;
      if (d.more) return poll();
      if (d.complete && wasRunning) { location.reload(); return; }
      if (!d.complete) setTimeout(poll, 500);
    }
    poll();
  }
  const graph = document.getElementById('graph');
  if (graph && graph.dataset.running === 'true') setTimeout(() => location.reload(), 1000);
  const stages = document.querySelector('.stages');
  if (stages && stages.dataset.running === 'true') setTimeout(() => location.reload(), 2000);
});
"#;

pub(super) async fn stylesheet() -> Response {
    guarded(([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response())
}

pub(super) async fn script() -> Response {
    guarded(([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], JS).into_response())
}

fn duration(b: &cb::Build) -> String {
    match (b.start_time, b.end_time) {
        (Some(s), Some(e)) => format!("{:.1} s", (e - s).max(0.0)),
        (Some(s), None) => format!("{:.0} s so far", (super::store::now_s() - s).max(0.0)),
        _ => String::new(),
    }
}

fn status_cell(b: &cb::Build) -> String {
    let status = b.build_status.as_deref().unwrap_or("");
    let shown = if status == "IN_PROGRESS" { b.current_phase.as_deref().unwrap_or(status) } else { status };
    format!("<span class=\"{}\">{}</span>", esc(status), esc(shown))
}

/// Runs `f` on a blocking thread (the store is synchronous) and renders its page.
async fn render(f: impl FnOnce() -> Result<Response, String> + Send + 'static) -> Response {
    let done = tokio::task::spawn_blocking(f).await;
    guarded(match done {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, esc(&e)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    })
}

pub(super) async fn index(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(r) = gate(&app, &headers, &q, "/") {
        return guarded(r);
    }
    let service = Arc::clone(&app.service);
    render(move || {
        let overview = service.overview(50, 20).map_err(|e| format!("{e:?}"))?;
        let mut html = String::from(
            "<h1>runspec serve</h1><h2>Projects</h2><table><tr><th>Project</th><th>Last build</th><th>When</th></tr>",
        );
        for (name, last) in &overview.projects {
            let (status, when) = match last {
                Some(r) => (
                    format!("<a href=\"/builds/{}\">{}</a>", url_part(&r.id), status_cell(&r.build)),
                    crate::result::iso(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(r.submitted)),
                ),
                None => ("no builds yet".to_string(), String::new()),
            };
            html.push_str(&format!("<tr><td>{}</td><td>{status}</td><td>{}</td></tr>", esc(name), esc(&when)));
        }
        html.push_str("</table><h2>Recent builds</h2><table><tr><th>Build</th><th>Status</th><th>Duration</th><th>Started by</th><th>Source version</th></tr>");
        for r in &overview.builds {
            let b = &r.build;
            html.push_str(&format!(
                "<tr><td><a href=\"/builds/{}\">{} #{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&r.id),
                esc(&r.project),
                r.number,
                status_cell(b),
                esc(&duration(b)),
                esc(b.initiator.as_deref().unwrap_or("")),
                esc(b.resolved_source_version.as_deref().or(b.source_version.as_deref()).unwrap_or("")),
            ));
        }
        html.push_str("</table><h2>Recent batches</h2><table><tr><th>Batch</th><th>Status</th><th>Builds</th></tr>");
        for b in &overview.batches {
            let groups = b.batch.build_groups.as_ref().map_or(0, |g| g.len().saturating_sub(1));
            html.push_str(&format!(
                "<tr><td><a href=\"/batches/{}\">{} batch #{}</a></td><td class=\"{}\">{}</td><td>{groups}</td></tr>",
                url_part(&b.id),
                esc(&b.project),
                b.number,
                esc(&b.status),
                esc(&b.status),
            ));
        }
        html.push_str("</table><h2>Pipelines</h2><table><tr><th>Pipeline</th><th>Latest execution</th><th>Started</th></tr>");
        for name in service.store.pipeline_names().map_err(|e| e.to_string())? {
            let latest = service.store.executions(&name).map_err(|e| e.to_string())?.into_iter().next();
            let (status, when) = match &latest {
                Some(e) => (
                    format!("<span class=\"{}\">{}</span>", esc(&e.status), esc(&e.status)),
                    crate::result::iso(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(e.started)),
                ),
                None => ("no executions yet".to_string(), String::new()),
            };
            html.push_str(&format!(
                "<tr><td><a href=\"/pipelines/{}\">{}</a></td><td>{status}</td><td>{}</td></tr>",
                url_part(&name),
                esc(&name),
                esc(&when)
            ));
        }
        html.push_str("</table>");
        Ok(Html(page("runspec serve", &html)).into_response())
    })
    .await
}

pub(super) async fn build(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(r) = gate(&app, &headers, &q, &format!("/builds/{}", url_part(&id))) {
        return guarded(r);
    }
    let service = Arc::clone(&app.service);
    let key = form_key(&app.web_token);
    render(move || {
        let Ok(row) = service.build(&id) else {
            return Ok((StatusCode::NOT_FOUND, Html(page("not found", &format!("<p>No build {}.</p>", esc(&id)))))
                .into_response());
        };
        let b = &row.build;
        let complete = b.build_complete == Some(true);
        let mut phases =
            String::from("<table id=\"phases\"><tr><th>Phase</th><th>Status</th><th>Duration</th><th></th></tr>");
        for p in b.phases.iter().flatten() {
            let status = p.phase_status.as_deref().unwrap_or(if complete { "" } else { "IN_PROGRESS" });
            let context =
                p.contexts.iter().flatten().next().and_then(|c| c.message.as_deref()).unwrap_or("");
            phases.push_str(&format!(
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(p.phase_type.as_deref().unwrap_or("")),
                esc(status),
                esc(status),
                p.duration_in_seconds.map(|d| format!("{d} s")).unwrap_or_default(),
                esc(context),
            ));
        }
        phases.push_str("</table>");
        let running = row.status == "IN_PROGRESS";
        let action = |name: &str, label: &str, on: bool| {
            format!(
                "<form method=\"post\" action=\"/builds/{}/{name}\"><input type=\"hidden\" name=\"key\" value=\"{key}\"><button id=\"{name}\"{}>{label}</button></form>",
                url_part(&id),
                if on { "" } else { " disabled" },
            )
        };
        // Retry is for a finished build, as RetryBuild is.
        let actions = action("stop", "Stop", running) + &action("retry", "Retry", !running);
        // A webhook build: what started it, with links to the forge.
        let source = b.source.as_ref().map(|s| (s.kind.as_str(), s.location.as_deref().unwrap_or(""))).unwrap_or(("", ""));
        let commit = b.resolved_source_version.as_deref().or(b.source_version.as_deref());
        let origin = match crate::webhook::origin(&row.request.webhook, source, commit) {
            Some(o) => {
                let link = |url: &Option<String>, text: &str| {
                    url.as_ref().map(|u| format!(" · <a href=\"{}\" rel=\"noreferrer\">{text}</a>", esc(u))).unwrap_or_default()
                };
                format!(
                    "<p id=\"origin\">Started by a {}{}{}</p>",
                    esc(&o.summary),
                    link(&o.commit_url, "commit"),
                    link(&o.pull_request_url, "pull request")
                )
            }
            None => String::new(),
        };
        let html = format!(
            "<p><a href=\"/\">runspec serve</a></p><h1>{} #{}</h1><p>Status: <b id=\"status\" class=\"{}\">{}</b> · {} · started by {} · <code>{}</code></p>{origin}{actions}<h2>Phases</h2>{phases}<h2>Log</h2><pre id=\"log\" data-source=\"/builds/{}/log\" data-running=\"{running}\"></pre>",
            esc(&row.project),
            row.number,
            esc(&row.status),
            esc(if running { b.current_phase.as_deref().unwrap_or("") } else { &row.status }),
            esc(&duration(b)),
            esc(b.initiator.as_deref().unwrap_or("")),
            esc(&id),
            url_part(&id),
        );
        Ok(Html(page(&format!("{} #{}", row.project, row.number), &html)).into_response())
    })
    .await
}

/// A pipeline: its stages and actions with the latest execution of each (a build links to its
/// page), and its recent executions.
pub(super) async fn pipeline(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(r) = gate(&app, &headers, &q, &format!("/pipelines/{}", url_part(&name))) {
        return guarded(r);
    }
    let service = Arc::clone(&app.service);
    render(move || {
        let Ok(state) = service.get_pipeline_state(&name) else {
            return Ok((
                StatusCode::NOT_FOUND,
                Html(page("not found", &format!("<p>No pipeline {}.</p>", esc(&name)))),
            )
                .into_response());
        };
        let executions = service.store.executions(&name).map_err(|e| e.to_string())?;
        let mut html = format!(
            "<p><a href=\"/\">runspec serve</a></p><h1>{}</h1><div class=\"stages\" data-running=\"{}\">",
            esc(&name),
            executions.first().is_some_and(|e| e.status == "InProgress"),
        );
        for stage in state.stage_states.iter().flatten() {
            let stage_status = stage.latest_execution.as_ref().map(|e| e.status.as_str()).unwrap_or("");
            html.push_str(&format!(
                "<div class=\"stage\"><h2>{} <span class=\"{}\">{}</span></h2><table>",
                esc(stage.stage_name.as_deref().unwrap_or("")),
                esc(stage_status),
                esc(stage_status),
            ));
            for action in stage.action_states.iter().flatten() {
                let latest = action.latest_execution.as_ref();
                let status = latest.and_then(|l| l.status.as_deref()).unwrap_or("");
                let external = latest.and_then(|l| l.external_execution_id.as_deref());
                let link = match external {
                    Some(id) if service.store.build(id).ok().flatten().is_some() => {
                        format!("<a href=\"/builds/{}\">{}</a>", url_part(id), esc(id))
                    }
                    _ => String::new(),
                };
                let waiting = match latest.and_then(|l| l.token.as_deref()) {
                    Some(token) => format!("waiting for approval (token <code>{}</code>)", esc(token)),
                    None => esc(latest.and_then(|l| l.summary.as_deref()).unwrap_or("")),
                };
                html.push_str(&format!(
                    "<tr><td>{}</td><td class=\"{}\">{}</td><td>{link}</td><td>{waiting}</td></tr>",
                    esc(action.action_name.as_deref().unwrap_or("")),
                    esc(status),
                    esc(status),
                ));
            }
            html.push_str("</table></div>");
        }
        html.push_str("</div><h2>Executions</h2><table><tr><th>Execution</th><th>Status</th><th>Started</th><th>Summary</th></tr>");
        for e in executions.iter().take(20) {
            html.push_str(&format!(
                "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.id),
                esc(&e.status),
                esc(&e.status),
                esc(&crate::result::iso(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(e.started))),
                esc(e.execution.status_summary.as_deref().unwrap_or("")),
            ));
        }
        html.push_str("</table>");
        Ok(Html(page(&name, &html)).into_response())
    })
    .await
}

/// A batch as its graph of children: one column per depth of `depend-on`, each child a box
/// with its status, linking to its build.
pub(super) async fn batch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(r) = gate(&app, &headers, &q, &format!("/batches/{}", url_part(&id))) {
        return guarded(r);
    }
    let service = Arc::clone(&app.service);
    render(move || {
        let Ok(row) = service.batch(&id) else {
            return Ok((StatusCode::NOT_FOUND, Html(page("not found", &format!("<p>No batch {}.</p>", esc(&id)))))
                .into_response());
        };
        let groups: Vec<&cb::BuildGroup> = row.batch.build_groups.iter().flatten().skip(1).collect();
        let name = |g: &cb::BuildGroup| g.identifier.clone().unwrap_or_default();
        // Depth: 0 without dependencies, else one more than the deepest dependency.
        let mut depth: std::collections::BTreeMap<String, usize> = Default::default();
        for _ in 0..groups.len() {
            for g in &groups {
                let d = g
                    .depends_on
                    .iter()
                    .flatten()
                    .map(|d| depth.get(d).copied().unwrap_or(0) + 1)
                    .max()
                    .unwrap_or(0);
                depth.insert(name(g), d);
            }
        }
        let levels = depth.values().copied().max().map_or(0, |m| m + 1);
        let mut html = format!(
            "<p><a href=\"/\">runspec serve</a></p><h1>{} batch #{}</h1><p>Status: <b id=\"status\" class=\"{s}\">{s}</b></p><div id=\"graph\" data-running=\"{}\">",
            esc(&row.project),
            row.number,
            row.status == "IN_PROGRESS",
            s = esc(&row.status),
        );
        for level in 0..levels {
            html.push_str("<div class=\"level\">");
            for g in groups.iter().filter(|g| depth.get(&name(g)) == Some(&level)) {
                let summary = g.current_build_summary.clone().unwrap_or_default();
                let status = summary.build_status.unwrap_or_default();
                let link = summary.arn.as_deref().and_then(|a| a.rsplit_once(":build/")).map(|(_, id)| id.to_string());
                let deps: Vec<String> = g.depends_on.clone().unwrap_or_default();
                let label = match &link {
                    Some(id) => format!("<a href=\"/builds/{}\">{}</a>", url_part(id), esc(&name(g))),
                    None => esc(&name(g)),
                };
                html.push_str(&format!(
                    "<div class=\"child\"><b>{label}</b><br><span class=\"{st}\">{st}</span>{}</div>",
                    if deps.is_empty() { String::new() } else { format!("<br><small>after {}</small>", esc(&deps.join(", "))) },
                    st = esc(&status),
                ));
            }
            html.push_str("</div>");
        }
        html.push_str("</div>");
        Ok(Html(page(&format!("{} batch #{}", row.project, row.number), &html)).into_response())
    })
    .await
}

/// New log text from byte `from` (a page of it), with the build's status, for the page's script.
pub(super) async fn log(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if !cookie_ok(&app, &headers) {
        return guarded(denied());
    }
    let service = Arc::clone(&app.service);
    render(move || {
        let Ok(row) = service.build(&id) else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let stream = row.build.logs.as_ref().and_then(|l| l.stream_name.clone()).unwrap_or_default();
        let path = service.log_file(&stream).map_err(|e| e.to_string())?;
        let from = q.from.unwrap_or(0);
        let (text, next) = match super::logs::is_line_start(&path, from) {
            Ok(true) => super::logs::text(&path, from).unwrap_or_default(),
            _ => (String::new(), 0),
        };
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let complete = row.build.build_complete == Some(true);
        let shown =
            if complete { row.status.clone() } else { row.build.current_phase.clone().unwrap_or_default() };
        #[derive(serde::Serialize)]
        struct Poll {
            text: String,
            next: u64,
            more: bool,
            status: String,
            shown: String,
            complete: bool,
        }
        let body = Poll { text, next, more: complete && next < size, status: row.status, shown, complete };
        let json = serde_json::to_string(&body).map_err(|e| e.to_string())?;
        Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
    })
    .await
}

async fn action(app: Arc<App>, headers: HeaderMap, id: String, body: Body, retry: bool) -> Response {
    // The cookie first: nobody without it makes the server read a byte of the body.
    if !cookie_ok(&app, &headers) {
        return guarded(denied());
    }
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), axum::body::to_bytes(body, FORM_LIMIT));
    let key = match read.await {
        Ok(Ok(bytes)) => form_field(&bytes, "key"),
        _ => None,
    };
    if !key.is_some_and(|k| constant_eq(&k, &form_key(&app.web_token))) {
        return guarded(denied());
    }
    let service = Arc::clone(&app.service);
    render(move || {
        let done = if retry {
            service.retry_build(&cb::RetryBuildInput { id: Some(id), idempotency_token: None }, "web")
        } else {
            service.stop_build(&id)
        };
        Ok(match done {
            Ok(b) => Redirect::to(&format!("/builds/{}", url_part(b.id.as_deref().unwrap_or_default())))
                .into_response(),
            Err(e) => (
                StatusCode::BAD_REQUEST,
                Html(page("runspec serve", &format!("<p>{}</p>", esc(&format!("{e:?}"))))),
            )
                .into_response(),
        })
    })
    .await
}

pub(super) async fn stop(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Body,
) -> Response {
    action(app, headers, id, body, false).await
}

pub(super) async fn retry(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Body,
) -> Response {
    action(app, headers, id, body, true).await
}
