//! `render`: fills `${NAME}` placeholders in a template file: task definitions, CodeDeploy
//! `appspec.yaml`, Kubernetes manifests, config files.
//!
//! ```yaml
//! - plugin: ./plugins/render.wasm
//!   with: { template: taskdef.tpl.json, output: taskdef.json, vars: { FAMILY: web } }
//!   allow: { write: true, env: [IMAGE_URI, AWS_REGION] }
//! ```
//!
//! Values come from `vars` first, then from the granted variables (`allow.env`). `$${` writes a
//! literal `${`. Every placeholder without a value is an error that names them all, unless
//! `strict: false` (then they are left as they are). `artifact: true` adds the output to the
//! primary artifact.

use runspec_sdk::{Context, Error, Output, Plugin};

struct Render;

impl Plugin for Render {
    fn run(ctx: &Context) -> Result<Output, Error> {
        ctx.expect_args(&["template", "output", "vars", "strict", "artifact"])?;
        let template: String = ctx.arg("template")?;
        let output: String = ctx.arg("output")?;
        let strict: bool = ctx.arg_or("strict", true)?;
        let artifact: bool = ctx.arg_or("artifact", false)?;
        let vars: Vec<(String, String)> = match ctx.arg_opt::<serde_json::Value>("vars")? {
            None => Vec::new(),
            Some(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect(),
            Some(_) => return Err(Error::InvalidArgs("`vars` must be a mapping of NAME: value".into())),
        };
        let text =
            std::fs::read_to_string(&template).map_err(|e| Error::Failed(format!("{template}: {e}")))?;
        let lookup = |name: &str| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).or_else(|| ctx.env(name))
        };
        let (rendered, used, missing) = render(&text, lookup);
        if strict && !missing.is_empty() {
            return Err(Error::Failed(format!(
                "{template}: no value for {} (set it in `vars`, or grant it with `allow: {{ env: [...] }}`)",
                missing.iter().map(|m| format!("${{{m}}}")).collect::<Vec<_>>().join(", ")
            )));
        }
        std::fs::write(&output, rendered).map_err(|e| {
            Error::Failed(format!("cannot write {output}: {e} (the step needs `allow: {{ write: true }}`)"))
        })?;
        let out = Output::new(format!("rendered {template} into {output} ({used} placeholder(s))"));
        Ok(if artifact { out.artifact(output) } else { out })
    }
}

/// The text with placeholders replaced, how many were replaced, and the names without a value
/// (each once, in order of appearance).
fn render<'a>(text: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> (String, usize, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut used = 0;
    let mut missing: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
            continue;
        }
        let close = after.find('}');
        let name = match (after.starts_with("${"), close) {
            (true, Some(end)) => &after[2..end],
            _ => {
                out.push('$');
                rest = &after[1..];
                continue;
            }
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match lookup(name).filter(|_| valid) {
            Some(v) => {
                out.push_str(v);
                used += 1;
            }
            None => {
                if valid && !missing.iter().any(|m| m == name) {
                    missing.push(name.to_string());
                }
                out.push_str(&after[..=close.unwrap_or(0)]);
            }
        }
        rest = &after[close.unwrap_or(0) + 1..];
    }
    out.push_str(rest);
    (out, used, missing)
}

runspec_sdk::export!(Render);
