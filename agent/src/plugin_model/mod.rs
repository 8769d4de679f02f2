//! What a plugin step asks for, as data and rules (pure): its reference, its `with:` arguments,
//! its grants, and which variables a plugin may never export. The buildspec parser checks steps
//! against these rules and the plugin host enforces them again at run time; neither of those
//! two modules depends on the other through this one.

pub mod exports;
pub mod reference;

/// A shell variable name: a letter or `_`, then letters, digits and `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value of the step's `with:` block (mirrors `types.arg-value`).
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Str(String),
    Int(i64),
    Float(f64),
    Boolean(bool),
    Strings(Vec<String>),
    Json(String),
}

impl ArgValue {
    /// Reads a `--with k=v` value the way YAML would read the plain scalar `v`; a value that
    /// starts with `[` or `{` is taken as JSON (a list of scalars becomes `strings`).
    pub fn from_cli(text: &str) -> ArgValue {
        let t = text.trim();
        if (t.starts_with('[') || t.starts_with('{'))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
        {
            return ArgValue::from_json(v);
        }
        match t {
            "true" => return ArgValue::Boolean(true),
            "false" => return ArgValue::Boolean(false),
            _ => {}
        }
        if let Ok(i) = t.parse::<i64>() {
            return ArgValue::Int(i);
        }
        if t.contains('.')
            && let Ok(f) = t.parse::<f64>()
            && f.is_finite()
        {
            return ArgValue::Float(f);
        }
        ArgValue::Str(text.to_string())
    }

    /// A JSON value as the closest typed argument.
    pub fn from_json(v: serde_json::Value) -> ArgValue {
        use serde_json::Value;
        match v {
            Value::String(s) => ArgValue::Str(s),
            Value::Bool(b) => ArgValue::Boolean(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => ArgValue::Int(i),
                None => n.as_f64().map_or_else(|| ArgValue::Json(n.to_string()), ArgValue::Float),
            },
            Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object() && !i.is_null()) => {
                ArgValue::Strings(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .collect(),
                )
            }
            other => ArgValue::Json(other.to_string()),
        }
    }
}

/// What a step may do beyond computing: everything not listed is denied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    /// Write to the source directory (otherwise it is read-only).
    pub write: bool,
    /// Variables the plugin sees (names; values come from the build's shell state).
    pub env: Vec<String>,
    /// `host:port` pairs the plugin may open TCP connections to.
    pub network: Vec<String>,
    /// Variables the plugin may set for later commands ([`exports`] says which never).
    pub export: Vec<String>,
    /// Memory cap in bytes; `None`: the host's default (`plugins::DEFAULT_MEMORY_LIMIT`).
    pub memory: Option<u64>,
}

impl Grants {
    /// An `env` grant must name a shell variable.
    pub fn check_env(name: &str) -> Result<(), String> {
        if is_identifier(name) { Ok(()) } else { Err("not a variable name".into()) }
    }

    /// A `network` grant is `host:port` with a port from 1 to 65535.
    pub fn check_network(entry: &str) -> Result<(), String> {
        match entry.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
            _ => Err("write it as host:port".into()),
        }
    }
}
