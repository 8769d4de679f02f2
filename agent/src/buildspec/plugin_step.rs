//! Plugin steps: a `commands` / `finally` entry that is a mapping with a `plugin:` key.
//!
//! ```yaml
//! - plugin: ./plugins/sha256sum.wasm
//!   with: { files: ["target/release/app"], output: checksums.txt }
//!   allow: { write: true, env: [VERSION], export: [CHECKSUMS], network: ["example.com:443"], memory: 256MiB }
//!   timeout: 30s
//! ```
//!
//! Unlike the rest of the buildspec, unknown keys here are errors: a misspelt grant or argument
//! key should not silently change what a plugin may do.

use std::time::Duration;

use super::issue::Issue;
use super::model::{PluginStep, Spanned};
use super::yaml::{Node, NodeKind, Span, Style};
use crate::plugin_model::{ArgValue, Grants, reference};

const STEP_KEYS: &[&str] = &["plugin", "with", "allow", "timeout"];
const ALLOW_KEYS: &[&str] = &["write", "env", "export", "network", "memory"];

/// Whether a mapping entry of `commands` is meant as a plugin step.
pub(super) fn is_plugin_step(entries: &[(Node, Node)]) -> bool {
    entries.iter().any(|(k, _)| k.as_scalar() == Some("plugin"))
}

pub(super) fn parse(entries: &[(Node, Node)], span: Span, issues: &mut Vec<Issue>) -> Option<PluginStep> {
    let mut plugin = None;
    let mut with = Vec::new();
    let mut allow = Grants::default();
    let mut timeout = None;
    let before = issues.len();
    for (k, v) in entries {
        let name = k.as_scalar().unwrap_or("");
        match name {
            "plugin" => match v.as_scalar().filter(|_| !v.is_null()) {
                Some(text) => match reference::parse(text) {
                    Ok(_) => plugin = Some(Spanned::new(text.to_string(), v.span)),
                    Err(e) => issues.push(
                        Issue::error("bad-plugin", format!("bad plugin reference: {e}"), v.span, "here")
                            .help("a path to a .wasm file, https://…#sha256=<hex>, or oci://registry/repo:tag@sha256:<hex>"),
                    ),
                },
                None => issues.push(
                    Issue::error("bad-plugin", "`plugin` must be a path or URL", v.span, "expected a string")
                        .help("e.g. `plugin: ./plugins/sha256sum.wasm`"),
                ),
            },
            "with" => with = args(v, issues),
            "allow" => allow = grants(v, issues),
            "timeout" => match v.as_scalar().map(|t| parse_duration(t, None)) {
                Some(Ok(d)) => timeout = Some(d),
                Some(Err(e)) => issues.push(
                    Issue::error("bad-timeout", format!("bad plugin timeout: {e}"), v.span, "here")
                        .help("write a number with a unit: 30s, 5m, 1h"),
                ),
                None => issues.push(Issue::error("bad-timeout", "`timeout` must be a duration", v.span, "here")),
            },
            _ => issues.push(unknown(name, k.span, STEP_KEYS, "plugin step key")),
        }
    }
    if issues.len() > before {
        return None;
    }
    Some(PluginStep { plugin: plugin?, with, allow, timeout, span })
}

fn unknown(name: &str, span: Span, allowed: &[&str], what: &str) -> Issue {
    Issue::error("unknown-plugin-key", format!("unknown {what} `{name}`"), span, "not allowed here")
        .help(format!("expected one of: {}", allowed.join(", ")))
}

fn args(v: &Node, issues: &mut Vec<Issue>) -> Vec<(String, ArgValue)> {
    match &v.kind {
        NodeKind::Map(entries) => {
            let mut out: Vec<(String, ArgValue)> = Vec::new();
            for (k, v) in entries {
                let name = k.as_scalar().unwrap_or("").to_string();
                if out.iter().any(|(n, _)| *n == name) {
                    issues.push(Issue::error(
                        "duplicate-key",
                        format!("duplicate key `{name}`"),
                        k.span,
                        "again",
                    ));
                    continue;
                }
                out.push((name, arg_value(v)));
            }
            out
        }
        _ if v.is_null() => Vec::new(),
        _ => {
            issues.push(
                Issue::error(
                    "wrong-type",
                    format!("`with` must be a mapping, found {}", v.kind_name()),
                    v.span,
                    "here",
                )
                .help("write the plugin's arguments as `name: value` pairs under `with:`"),
            );
            Vec::new()
        }
    }
}

fn grants(v: &Node, issues: &mut Vec<Issue>) -> Grants {
    let mut g = Grants::default();
    let NodeKind::Map(entries) = &v.kind else {
        if !v.is_null() {
            issues.push(
                Issue::error(
                    "wrong-type",
                    format!("`allow` must be a mapping, found {}", v.kind_name()),
                    v.span,
                    "here",
                )
                .help("e.g. `allow: { write: true, env: [VERSION] }`"),
            );
        }
        return g;
    };
    for (k, v) in entries {
        let name = k.as_scalar().unwrap_or("");
        match name {
            "write" => match v.as_scalar() {
                Some("true" | "True" | "TRUE" | "yes") => g.write = true,
                Some("false" | "False" | "FALSE" | "no") => g.write = false,
                _ => issues.push(Issue::error(
                    "wrong-type",
                    "`allow.write` must be true or false",
                    v.span,
                    "here",
                )),
            },
            "env" => g.env = names(v, issues, "env", Grants::check_env),
            "export" => g.export = names(v, issues, "export", crate::plugin_model::exports::check_grant),
            "network" => g.network = names(v, issues, "network", Grants::check_network),
            "memory" => match v.as_scalar().map(parse_size) {
                Some(Ok(bytes)) => g.memory = Some(bytes),
                Some(Err(e)) => issues.push(
                    Issue::error("bad-memory", format!("bad memory limit: {e}"), v.span, "here")
                        .help("e.g. `memory: 256MiB` or `memory: 2GiB`"),
                ),
                None => {
                    issues.push(Issue::error("bad-memory", "`allow.memory` must be a size", v.span, "here"))
                }
            },
            _ => issues.push(unknown(name, k.span, ALLOW_KEYS, "grant")),
        }
    }
    g
}

fn names(
    v: &Node,
    issues: &mut Vec<Issue>,
    key: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Vec<String> {
    let items: Vec<&Node> = match &v.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar { .. } if !v.is_null() => vec![v],
        _ => {
            issues.push(Issue::error("wrong-type", format!("`allow.{key}` must be a list"), v.span, "here"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_scalar() {
            Some(text) => match check(text) {
                Ok(()) => out.push(text.to_string()),
                Err(e) => issues.push(Issue::error(
                    "bad-grant",
                    format!("`{text}` in `allow.{key}`: {e}"),
                    item.span,
                    "here",
                )),
            },
            None => issues.push(Issue::error(
                "wrong-type",
                format!("`allow.{key}` entries must be strings"),
                item.span,
                "here",
            )),
        }
    }
    out
}

/// A `with:` value: plain scalars are typed the way YAML 1.2 reads them; quoted and block
/// scalars are strings; lists of scalars are `strings`; anything else is JSON.
pub fn arg_value(v: &Node) -> ArgValue {
    match &v.kind {
        NodeKind::Scalar { value, style: Style::Plain } if !v.is_null() => plain_scalar(value),
        NodeKind::Scalar { value, .. } if !v.is_null() => ArgValue::Str(value.clone()),
        NodeKind::Seq(items)
            if items.iter().all(|i| matches!(i.kind, NodeKind::Scalar { .. }) && !i.is_null()) =>
        {
            ArgValue::Strings(items.iter().map(|i| i.as_scalar().unwrap_or("").to_string()).collect())
        }
        _ => ArgValue::Json(to_json(v).to_string()),
    }
}

fn plain_scalar(text: &str) -> ArgValue {
    match text {
        "true" | "True" | "TRUE" => return ArgValue::Boolean(true),
        "false" | "False" | "FALSE" => return ArgValue::Boolean(false),
        _ => {}
    }
    let numeric = text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if numeric {
        if let Ok(i) = text.parse::<i64>() {
            return ArgValue::Int(i);
        }
        if let Ok(f) = text.parse::<f64>() {
            return ArgValue::Float(f);
        }
    }
    ArgValue::Str(text.to_string())
}

fn to_json(v: &Node) -> serde_json::Value {
    use serde_json::Value;
    if v.is_null() {
        return Value::Null;
    }
    match &v.kind {
        NodeKind::Scalar { value, style } => match (style, plain_scalar(value)) {
            (Style::Plain, ArgValue::Boolean(b)) => Value::Bool(b),
            (Style::Plain, ArgValue::Int(i)) => Value::from(i),
            (Style::Plain, ArgValue::Float(f)) => Value::from(f),
            _ => Value::String(value.clone()),
        },
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries.iter().map(|(k, v)| (k.as_scalar().unwrap_or("").to_string(), to_json(v))).collect(),
        ),
    }
}

/// `90s`, `5m`, `1h`, `250ms`; a bare number takes `default_unit` (`None`: a unit is required).
pub fn parse_duration(text: &str, default_unit: Option<&str>) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = (&t[..split], &t[split..]);
    let unit = match (unit, default_unit) {
        ("", Some(d)) => d,
        ("", None) => return Err(format!("`{t}` has no unit: write 30s, 5m or 1h")),
        (u, _) => u,
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("`{t}` is not a duration: write 30s, 5m or 1h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown unit `{u}`: use ms, s, m or h")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err("the duration must be positive".to_string());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `512MiB`, `2GiB`, `1048576`; a bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let n: u64 = t[..split].trim().parse().map_err(|_| format!("`{t}` is not a size"))?;
    let mult: u64 = match &t[split..] {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1 << 10,
        "MiB" | "M" | "MB" => 1 << 20,
        "GiB" | "G" | "GB" => 1 << 30,
        u => return Err(format!("unknown unit `{u}`: use KiB, MiB or GiB")),
    };
    let bytes = n.checked_mul(mult).ok_or("too large")?;
    if bytes < (1 << 20) {
        return Err(format!("`{t}` is under 1 MiB; no plugin can start in that"));
    }
    if bytes > (4 << 30) {
        return Err(format!("`{t}` is over the 4 GiB a 32-bit WebAssembly memory can address"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildspec::parse;

    fn step(yaml: &str) -> Result<PluginStep, Vec<String>> {
        let src = format!("version: 0.2\nphases:\n  build:\n    commands:\n{yaml}");
        let parsed = parse("b.yml", &src);
        let errors: Vec<String> = parsed
            .diagnostics
            .issues
            .iter()
            .filter(|i| i.severity == crate::buildspec::Severity::Error)
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        match &parsed.buildspec.unwrap().phases[0].commands[0] {
            crate::buildspec::Step::Plugin(p) => Ok(p.clone()),
            other => panic!("not a plugin step: {other:?}"),
        }
    }

    #[test]
    fn a_full_step() {
        let p = step(
            "      - plugin: ./p.wasm\n        with: { files: [a, '*.rs'], n: 3, f: 0.5, yes: true, q: '3', tag: 1.10, m: {a: [1, x]}, none: ~ }\n        allow: { write: true, env: [VERSION], export: [DIGEST], network: ['example.com:443'], memory: 64MiB }\n        timeout: 30s\n",
        )
        .unwrap();
        assert_eq!(p.plugin.value, "./p.wasm");
        assert_eq!(
            p.with,
            vec![
                ("files".into(), ArgValue::Strings(vec!["a".into(), "*.rs".into()])),
                ("n".into(), ArgValue::Int(3)),
                ("f".into(), ArgValue::Float(0.5)),
                ("yes".into(), ArgValue::Boolean(true)),
                ("q".into(), ArgValue::Str("3".into())),
                ("tag".into(), ArgValue::Float(1.1)),
                ("m".into(), ArgValue::Json(r#"{"a":[1,"x"]}"#.into())),
                ("none".into(), ArgValue::Json("null".into())),
            ]
        );
        assert_eq!(
            p.allow,
            Grants {
                write: true,
                env: vec!["VERSION".into()],
                export: vec!["DIGEST".into()],
                network: vec!["example.com:443".into()],
                memory: Some(64 << 20)
            }
        );
        assert_eq!(p.timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn bad_steps_are_errors() {
        let table: &[(&str, &str)] = &[
            ("      - plugin: ./p.wasm\n        allow: { wirte: true }\n", "unknown grant `wirte`"),
            ("      - plugin: ./p.wasm\n        alow: {}\n", "unknown plugin step key `alow`"),
            ("      - plugin: https://x.dev/p.wasm\n", "has no digest"),
            ("      - plugin: oci://r.dev/p@sha256:abc\n", "not a sha256 digest"),
            ("      - plugin: ./p.wasm\n        timeout: 30\n", "has no unit"),
            ("      - plugin: ./p.wasm\n        allow: { env: [1BAD] }\n", "not a variable name"),
            ("      - plugin: ./p.wasm\n        allow: { network: [example.com] }\n", "host:port"),
            ("      - plugin: ./p.wasm\n        allow: { memory: 100TB }\n", "unknown unit"),
            ("      - plugin: ./p.wasm\n        allow: { memory: 8GiB }\n", "over the 4 GiB"),
            ("      - plugin: ./p.wasm\n        with: [a]\n", "`with` must be a mapping"),
            ("      - plugin:\n", "must be a path"),
        ];
        for (yaml, want) in table {
            let errors = step(yaml).unwrap_err();
            assert!(errors.iter().any(|e| e.contains(want)), "{yaml}: {errors:?}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90s", None), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms", None), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m", None), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30", Some("m")), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("0.5", Some("m")), Ok(Duration::from_secs(30)));
        assert!(parse_duration("0s", None).is_err());
        assert!(parse_duration("5d", None).is_err());
        assert!(parse_duration("soon", Some("m")).is_err());
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("10").is_err());
    }
}
