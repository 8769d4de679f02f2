//! The page for people: `/` lists projects and recent builds; `/builds/<id>` shows a build's
//! phases and its log as it grows, with Stop and Retry. Server-rendered HTML and a few lines of
//! inline script that fetch the log's new lines; no build toolchain.
//!
//! Browsers cannot sign requests, so the page has its own key: a random token in the state
//! directory, in the URL `runspec serve` prints. Opening that URL sets it as a strict,
//! HTTP-only cookie; every page and action needs the cookie, and actions also carry the token
//! in the form.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::App;
use super::api;

const COOKIE: &str = "runspec_token";

/// The largest body a page's form sends (a token); read only once the cookie is good.
pub(super) const FORM_LIMIT: usize = 4 << 10;

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
    let t: String = (0..2).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
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

#[derive(serde::Deserialize, Default)]
pub(super) struct TokenQuery {
    token: Option<String>,
    from: Option<u64>,
}

/// The `token` field of a form body (`application/x-www-form-urlencoded`).
fn form_token(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| {
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
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}\
         td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}\
         .SUCCEEDED{{color:#17813b}}.FAILED,.FAULT,.TIMED_OUT{{color:#c62828}}.STOPPED{{color:#8d6e00}}.IN_PROGRESS{{color:#1565c0}}\
         pre{{background:#111;color:#ddd;padding:1em;max-height:70vh;overflow:auto;white-space:pre-wrap}}\
         form{{display:inline}}button{{margin-right:.5em}}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

fn duration(b: &Value) -> String {
    match (b["startTime"].as_f64(), b["endTime"].as_f64()) {
        (Some(s), Some(e)) => format!("{:.1} s", (e - s).max(0.0)),
        (Some(s), None) => format!("{:.0} s so far", (super::store::now_s() - s).max(0.0)),
        _ => String::new(),
    }
}

fn status_cell(b: &Value) -> String {
    let status = b["buildStatus"].as_str().unwrap_or("");
    let shown = if status == "IN_PROGRESS" { b["currentPhase"].as_str().unwrap_or(status) } else { status };
    format!("<span class=\"{}\">{}</span>", esc(status), esc(shown))
}

pub(super) async fn index(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(r) = gate(&app, &headers, &q, "/") {
        return r;
    }
    let service = Arc::clone(&app.service);
    let rendered = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let store = &service.store;
        let mut html = String::from("<h1>runspec serve</h1><h2>Projects</h2><table><tr><th>Project</th><th>Last build</th><th>When</th></tr>");
        for name in store.project_names().map_err(|e| e.to_string())? {
            let last = store
                .build_ids(Some(&name), false)
                .ok()
                .and_then(|ids| ids.first().cloned())
                .and_then(|id| store.build(&id).ok().flatten());
            let (status, when) = match &last {
                Some(r) => (
                    format!("<a href=\"/builds/{}\">{}</a>", url_part(&r.id), status_cell(&r.build)),
                    crate::result::iso(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(r.submitted)),
                ),
                None => ("no builds yet".to_string(), String::new()),
            };
            html.push_str(&format!("<tr><td>{}</td><td>{status}</td><td>{}</td></tr>", esc(&name), esc(&when)));
        }
        html.push_str("</table><h2>Recent builds</h2><table><tr><th>Build</th><th>Status</th><th>Duration</th><th>Started by</th><th>Source version</th></tr>");
        for r in store.recent(50).map_err(|e| e.to_string())? {
            let b = &r.build;
            html.push_str(&format!(
                "<tr><td><a href=\"/builds/{}\">{} #{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&r.id),
                esc(&r.project),
                r.number,
                status_cell(b),
                esc(&duration(b)),
                esc(b["initiator"].as_str().unwrap_or("")),
                esc(b["resolvedSourceVersion"].as_str().or(b["sourceVersion"].as_str()).unwrap_or("")),
            ));
        }
        html.push_str("</table><h2>Recent batches</h2><table><tr><th>Batch</th><th>Status</th><th>Builds</th></tr>");
        let batch_ids = store.batch_ids(None, false).map_err(|e| e.to_string())?;
        for id in batch_ids.iter().take(20) {
            let Some(b) = store.batch(id).map_err(|e| e.to_string())? else { continue };
            let groups = b.batch["buildGroups"].as_array().map_or(0, |g| g.len().saturating_sub(1));
            html.push_str(&format!(
                "<tr><td><a href=\"/batches/{}\">{} batch #{}</a></td><td class=\"{}\">{}</td><td>{groups}</td></tr>",
                url_part(&b.id),
                esc(&b.project),
                b.number,
                esc(&b.status),
                esc(&b.status),
            ));
        }
        html.push_str("</table>");
        Ok(page("runspec serve", &html))
    })
    .await;
    match rendered {
        Ok(Ok(html)) => Html(html).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub(super) async fn build(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(r) = gate(&app, &headers, &q, &format!("/builds/{}", url_part(&id))) {
        return r;
    }
    let Ok(Some(row)) = app.service.store.build(&id) else {
        return (StatusCode::NOT_FOUND, Html(page("not found", &format!("<p>No build {}.</p>", esc(&id)))))
            .into_response();
    };
    let b = &row.build;
    let mut phases =
        String::from("<table id=\"phases\"><tr><th>Phase</th><th>Status</th><th>Duration</th><th></th></tr>");
    for p in b["phases"].as_array().into_iter().flatten() {
        let status =
            p["phaseStatus"].as_str().unwrap_or(if b["buildComplete"] == true { "" } else { "IN_PROGRESS" });
        let context = p["contexts"][0]["message"].as_str().unwrap_or("");
        phases.push_str(&format!(
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(p["phaseType"].as_str().unwrap_or("")),
            esc(status),
            esc(status),
            p["durationInSeconds"].as_u64().map(|d| format!("{d} s")).unwrap_or_default(),
            esc(context),
        ));
    }
    phases.push_str("</table>");
    let running = row.status == "IN_PROGRESS";
    let actions = format!(
        "<form method=\"post\" action=\"/builds/{id}/stop\"><input type=\"hidden\" name=\"token\" value=\"{t}\"><button id=\"stop\"{dis}>Stop</button></form>\
         <form method=\"post\" action=\"/builds/{id}/retry\"><input type=\"hidden\" name=\"token\" value=\"{t}\"><button id=\"retry\">Retry</button></form>",
        id = url_part(&id),
        t = esc(&app.web_token),
        dis = if running { "" } else { " disabled" },
    );
    let script = format!(
        "<script>\
         let next = 0; const log = document.getElementById('log'); const status = document.getElementById('status');\
         async function poll() {{\
           const r = await fetch('/builds/{id}/log?from=' + next, {{credentials: 'same-origin'}});\
           if (!r.ok) return setTimeout(poll, 1000);\
           const d = await r.json(); next = d.next;\
           if (d.text) {{ log.textContent += d.text; log.scrollTop = log.scrollHeight; }}\
           status.textContent = d.shown; status.className = d.status;\
           if (d.complete && {running}) {{ location.reload(); return; }}\
           if (!d.complete) setTimeout(poll, 500);\
         }}\
         poll();</script>",
        id = url_part(&id),
        running = if running { "true" } else { "false" },
    );
    let html = format!(
        "<p><a href=\"/\">runspec serve</a></p><h1>{} #{}</h1><p>Status: <b id=\"status\" class=\"{}\">{}</b> · {} · started by {} · <code>{}</code></p>{actions}<h2>Phases</h2>{phases}<h2>Log</h2><pre id=\"log\"></pre>{script}",
        esc(&row.project),
        row.number,
        esc(&row.status),
        esc(if running { b["currentPhase"].as_str().unwrap_or("") } else { &row.status }),
        esc(&duration(b)),
        esc(b["initiator"].as_str().unwrap_or("")),
        esc(&id),
    );
    Html(page(&format!("{} #{}", row.project, row.number), &html)).into_response()
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
        return r;
    }
    let Ok(Some(row)) = app.service.store.batch(&id) else {
        return (StatusCode::NOT_FOUND, Html(page("not found", &format!("<p>No batch {}.</p>", esc(&id)))))
            .into_response();
    };
    let groups: Vec<&Value> = row.batch["buildGroups"].as_array().into_iter().flatten().skip(1).collect();
    let name = |g: &Value| g["identifier"].as_str().unwrap_or("").to_string();
    // Depth: 0 without dependencies, else one more than the deepest dependency.
    let mut depth: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..groups.len() {
        for g in &groups {
            let d = g["dependsOn"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .map(|d| depth.get(d).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            depth.insert(name(g), d);
        }
    }
    let levels = depth.values().copied().max().map_or(0, |m| m + 1);
    let mut html = format!(
        "<p><a href=\"/\">runspec serve</a></p><h1>{} batch #{}</h1><p>Status: <b id=\"status\" class=\"{s}\">{s}</b></p><div id=\"graph\" style=\"display:flex;gap:2em;align-items:flex-start\">",
        esc(&row.project),
        row.number,
        s = esc(&row.status),
    );
    for level in 0..levels {
        html.push_str("<div style=\"display:flex;flex-direction:column;gap:.8em\">");
        for g in groups.iter().filter(|g| depth.get(&name(g)) == Some(&level)) {
            let status = g["currentBuildSummary"]["buildStatus"].as_str().unwrap_or("");
            let link = g["currentBuildSummary"]["arn"]
                .as_str()
                .and_then(|a| a.rsplit_once(":build/"))
                .map(|(_, id)| id.to_string());
            let deps: Vec<&str> =
                g["dependsOn"].as_array().into_iter().flatten().filter_map(|d| d.as_str()).collect();
            let label = match &link {
                Some(id) => format!("<a href=\"/builds/{}\">{}</a>", url_part(id), esc(&name(g))),
                None => esc(&name(g)),
            };
            html.push_str(&format!(
                "<div class=\"child\" style=\"border:1px solid #999;border-radius:6px;padding:.5em 1em\"><b>{label}</b><br><span class=\"{st}\">{st}</span>{}</div>",
                if deps.is_empty() { String::new() } else { format!("<br><small>after {}</small>", esc(&deps.join(", "))) },
                st = esc(status),
            ));
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
    if row.status == "IN_PROGRESS" {
        html.push_str("<script>setTimeout(() => location.reload(), 1000)</script>");
    }
    Html(page(&format!("{} batch #{}", row.project, row.number), &html)).into_response()
}

/// New log text from byte `from`, with the build's status, for the page's script.
pub(super) async fn log(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    if !cookie_ok(&app, &headers) {
        return denied();
    }
    let Ok(Some(row)) = app.service.store.build(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let stream = row.build["logs"]["streamName"].as_str().unwrap_or_default().to_string();
    let (text, next) = app
        .service
        .log_file(&stream)
        .ok()
        .and_then(|path| super::logs::text(&path, q.from.unwrap_or(0)).ok())
        .unwrap_or_default();
    let complete = row.build["buildComplete"] == true;
    let shown = if complete {
        row.status.clone()
    } else {
        row.build["currentPhase"].as_str().unwrap_or("").to_string()
    };
    let body =
        json!({"text": text, "next": next, "status": row.status, "shown": shown, "complete": complete});
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.to_string())
        .into_response()
}

async fn action(app: Arc<App>, headers: HeaderMap, id: String, body: Body, target: &'static str) -> Response {
    // The cookie first: nobody without it makes the server read a byte of the body.
    if !cookie_ok(&app, &headers) {
        return denied();
    }
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), axum::body::to_bytes(body, FORM_LIMIT));
    let token = match read.await {
        Ok(Ok(bytes)) => form_token(&bytes),
        _ => None,
    };
    if !token.is_some_and(|t| constant_eq(&t, &app.web_token)) {
        return denied();
    }
    let service = Arc::clone(&app.service);
    let answer =
        tokio::task::spawn_blocking(move || api::call(&service, target, &json!({"id": id}), "web")).await;
    match answer {
        Ok(Ok(v)) => {
            let id = v["build"]["id"].as_str().unwrap_or_default();
            Redirect::to(&format!("/builds/{}", url_part(id))).into_response()
        }
        Ok(Err(e)) => {
            (StatusCode::BAD_REQUEST, Html(page("runspec serve", &format!("<p>{}</p>", esc(&e.message)))))
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub(super) async fn stop(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Body,
) -> Response {
    action(app, headers, id, body, "CodeBuild_20161006.StopBuild").await
}

pub(super) async fn retry(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Body,
) -> Response {
    action(app, headers, id, body, "CodeBuild_20161006.RetryBuild").await
}
