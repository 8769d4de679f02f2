//! The original build beside its replay, phase by phase (pure): status, duration and context
//! of each, and the first phase where they differ.

use serde_json::Value;

/// One phase as a build object records it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhaseView {
    pub status: String,
    pub seconds: Option<u64>,
    /// `CODE: message` of its contexts, empty when none says anything.
    pub context: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub phase: String,
    pub original: Option<PhaseView>,
    pub local: Option<PhaseView>,
    pub differs: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub rows: Vec<Row>,
    /// The first phase whose outcome differs.
    pub first_difference: Option<String>,
}

/// The phases in CodeBuild's order.
const ORDER: &[&str] = &[
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
];

/// Phases only a service has (a replay starts at once) or that carry no outcome of the build.
const NOT_COMPARED: &[&str] = &["SUBMITTED", "QUEUED", "COMPLETED"];

fn phases(build: &Value) -> Vec<(String, PhaseView)> {
    let mut out: Vec<(String, PhaseView)> = Vec::new();
    for p in build["phases"].as_array().into_iter().flatten() {
        let Some(kind) = p["phaseType"].as_str() else { continue };
        // A record lists each phase once; a server that repeats one is read by its first.
        if out.iter().any(|(k, _)| k == kind) {
            continue;
        }
        let context = p["contexts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let code = c["statusCode"].as_str().unwrap_or("");
                let message = c["message"].as_str().unwrap_or("");
                match (code.is_empty(), message.is_empty()) {
                    (true, true) => None,
                    (false, true) => Some(code.to_string()),
                    (true, false) => Some(message.to_string()),
                    (false, false) => Some(format!("{code}: {message}")),
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        out.push((
            kind.to_string(),
            PhaseView {
                status: p["phaseStatus"].as_str().unwrap_or("").to_string(),
                seconds: p["durationInSeconds"].as_u64(),
                context,
            },
        ));
    }
    out
}

/// Whether two records of one phase tell a different story: another status, or the same
/// failure for another reason.
fn differ(a: Option<&PhaseView>, b: Option<&PhaseView>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.status != b.status || (a.status != "SUCCEEDED" && a.context != b.context),
        (None, None) => false,
        _ => true,
    }
}

pub fn compare(original: &Value, local: &Value) -> Comparison {
    let a = phases(original);
    let b = phases(local);
    let mut names: Vec<String> = ORDER.iter().map(|s| s.to_string()).collect();
    for (k, _) in a.iter().chain(&b) {
        if !names.contains(k) {
            names.push(k.clone());
        }
    }
    let find =
        |list: &[(String, PhaseView)], k: &str| list.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut rows = Vec::new();
    let mut first = None;
    for name in names {
        let (o, l) = (find(&a, &name), find(&b, &name));
        if o.is_none() && l.is_none() {
            continue;
        }
        let differs = !NOT_COMPARED.contains(&name.as_str()) && differ(o.as_ref(), l.as_ref());
        if differs && first.is_none() {
            first = Some(name.clone());
        }
        rows.push(Row { phase: name, original: o, local: l, differs });
    }
    Comparison { rows, first_difference: first }
}

/// The table, for a terminal: one line per phase, the differing ones marked.
pub fn render(c: &Comparison, original_status: &str, local_status: &str) -> String {
    let cell = |v: &Option<PhaseView>| match v {
        None => "—".to_string(),
        Some(v) => {
            let mut s = if v.status.is_empty() { "-".to_string() } else { v.status.clone() };
            if let Some(d) = v.seconds {
                s.push_str(&format!(" {d}s"));
            }
            s
        }
    };
    let width = c.rows.iter().map(|r| cell(&r.original).len()).max().unwrap_or(0).max(8);
    let mut out = format!("  {:<16} {:<width$}  {}\n", "phase", "original", "here");
    for r in &c.rows {
        let mark = if r.differs { "≠" } else { " " };
        out.push_str(&format!("{mark} {:<16} {:<width$}  {}\n", r.phase, cell(&r.original), cell(&r.local)));
        for (side, v) in [("original", &r.original), ("here", &r.local)] {
            if let Some(v) = v.as_ref().filter(|v| r.differs && !v.context.is_empty()) {
                out.push_str(&format!("    {side}: {}\n", v.context));
            }
        }
    }
    out.push_str(&format!("  build            {original_status:<width$}  {local_status}\n"));
    match &c.first_difference {
        Some(p) => out.push_str(&format!("first difference: {p}\n")),
        None => out.push_str("no difference: every phase ended as in the original\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A phase: type, status, context (code, message).
    type P<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);

    fn b(phases: &[P]) -> Value {
        let list: Vec<Value> = phases
            .iter()
            .map(|(t, s, c)| {
                let mut p = json!({"phaseType": t, "phaseStatus": s, "durationInSeconds": 1});
                if let Some((code, m)) = c {
                    p["contexts"] = json!([{"statusCode": code, "message": m}]);
                }
                p
            })
            .collect();
        json!({ "phases": list })
    }

    #[test]
    fn first_differences_table() {
        let failed =
            Some(("COMMAND_EXECUTION_ERROR", "Error while executing command: make. Reason: exit status 2"));
        let other =
            Some(("COMMAND_EXECUTION_ERROR", "Error while executing command: make. Reason: exit status 1"));
        let ok =
            [("SUBMITTED", "SUCCEEDED", None), ("INSTALL", "SUCCEEDED", None), ("BUILD", "SUCCEEDED", None)];
        let table: &[(&[P], &[P], Option<&str>)] = &[
            // The same: SUBMITTED only on one side does not count.
            (&ok, &[("INSTALL", "SUCCEEDED", None), ("BUILD", "SUCCEEDED", None)], None),
            (
                &[("INSTALL", "SUCCEEDED", None), ("BUILD", "FAILED", failed)],
                &[("INSTALL", "SUCCEEDED", None), ("BUILD", "SUCCEEDED", None)],
                Some("BUILD"),
            ),
            // The same failure for another reason.
            (&[("BUILD", "FAILED", failed)], &[("BUILD", "FAILED", other)], Some("BUILD")),
            (&[("BUILD", "FAILED", failed)], &[("BUILD", "FAILED", failed)], None),
            // A phase only one side reached.
            (
                &[("DOWNLOAD_SOURCE", "SUCCEEDED", None), ("INSTALL", "SUCCEEDED", None)],
                &[("DOWNLOAD_SOURCE", "FAILED", None)],
                Some("DOWNLOAD_SOURCE"),
            ),
            (
                &[("DOWNLOAD_SOURCE", "SUCCEEDED", None), ("INSTALL", "SUCCEEDED", None)],
                &[("DOWNLOAD_SOURCE", "SUCCEEDED", None)],
                Some("INSTALL"),
            ),
        ];
        for (original, local, want) in table {
            let c = compare(&b(original), &b(local));
            assert_eq!(c.first_difference.as_deref(), *want, "{original:?} / {local:?}");
        }
    }

    #[test]
    fn repeated_records_are_read_once_and_the_table_names_the_difference() {
        let mut original = b(&[("BUILD", "FAILED", Some(("COMMAND_EXECUTION_ERROR", "boom")))]);
        original["phases"]
            .as_array_mut()
            .unwrap()
            .push(json!({"phaseType": "BUILD", "phaseStatus": "SUCCEEDED"}));
        let local = b(&[("BUILD", "SUCCEEDED", None)]);
        let c = compare(&original, &local);
        assert_eq!(c.rows.len(), 1);
        let text = render(&c, "FAILED", "SUCCEEDED");
        assert!(text.contains("≠ BUILD"), "{text}");
        assert!(text.contains("original: COMMAND_EXECUTION_ERROR: boom"), "{text}");
        assert!(text.ends_with("first difference: BUILD\n"), "{text}");
    }
}
