//! What a component is: its imports and exports, the `runspec:plugin` version it was built for,
//! and whether this runspec can run it.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The `runspec:plugin` versions this runspec has a host module for (semver-compatible ranges).
pub const SUPPORTED: &[&str] = &["0.1"];

/// Rejects bytes that are not a component before the compiler sees them, with a message saying
/// what they are instead.
pub fn check_header(wasm: &[u8]) -> Result<(), String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a WebAssembly file (no `\\0asm` header)".into());
    }
    match wasm[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(
            "this is a core WebAssembly module, not a component: build the plugin for `wasm32-wasip2` (or wrap a wasip1 module with `wasm-tools component new --adapt`)"
                .into(),
        ),
        _ => Err(format!("unknown WebAssembly binary version {:02x?}", &wasm[4..8])),
    }
}

/// Imports and exports of a compiled component.
#[derive(Debug, Clone, PartialEq)]
pub struct Describe {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Describe {
    pub fn of(engine: &Engine, component: &Component) -> Describe {
        let ty = component.component_type();
        Describe {
            imports: ty.imports(engine).map(|(n, _)| n.to_string()).collect(),
            exports: ty.exports(engine).map(|(n, _)| n.to_string()).collect(),
        }
    }

    /// The `runspec:plugin` version in the imports, if the component imports any of it.
    pub fn wit_version(&self) -> Option<&str> {
        self.imports
            .iter()
            .find_map(|i| i.strip_prefix("runspec:plugin/").and_then(|r| r.split_once('@')).map(|(_, v)| v))
    }

    /// Whether this runspec can run it; the version it was built for.
    pub fn check_runnable(&self) -> Result<String, String> {
        let version = self.wit_version().unwrap_or("0.1.0").to_string();
        if !SUPPORTED.iter().any(|s| compatible(s, &version)) {
            return Err(format!(
                "the plugin was built for runspec:plugin@{version}; this runspec runs plugins built for {}: rebuild it against wit/v0.1.0 or use a runspec that supports {version}",
                SUPPORTED.iter().map(|s| format!("{s}.x")).collect::<Vec<_>>().join(", ")
            ));
        }
        if !self.exports.iter().any(|e| e == "run") {
            return Err(format!(
                "the component does not export `run`, so it is not a runspec step plugin (it exports: {})",
                if self.exports.is_empty() { "nothing".to_string() } else { self.exports.join(", ") }
            ));
        }
        Ok(version)
    }
}

/// Semver compatibility as the component linker applies it: same major, and for 0.x the same
/// minor. `range` is `major.minor`.
fn compatible(range: &str, version: &str) -> bool {
    let mut v = version.split('.');
    let mut r = range.split('.');
    let (vmaj, vmin) = (v.next(), v.next());
    let (rmaj, rmin) = (r.next(), r.next());
    if vmaj != rmaj {
        return false;
    }
    rmaj != Some("0") || vmin == rmin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert!(check_header(b"\0asm\x0d\x00\x01\x00rest").is_ok());
        assert!(check_header(b"\0asm\x01\x00\x00\x00").unwrap_err().contains("core WebAssembly module"));
        assert!(check_header(b"hello world").unwrap_err().contains("not a WebAssembly file"));
        assert!(check_header(b"").is_err());
    }

    #[test]
    fn versions() {
        let d = |imports: &[&str], exports: &[&str]| Describe {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: exports.iter().map(|s| s.to_string()).collect(),
        };
        let table: &[(Describe, Result<&str, &str>)] = &[
            (d(&["wasi:cli/stdout@0.2.6", "runspec:plugin/host@0.1.0"], &["run"]), Ok("0.1.0")),
            (d(&["runspec:plugin/host@0.1.7"], &["run"]), Ok("0.1.7")),
            (d(&["runspec:plugin/host@0.2.0"], &["run"]), Err("built for runspec:plugin@0.2.0")),
            (d(&["runspec:plugin/host@1.0.0"], &["run"]), Err("built for runspec:plugin@1.0.0")),
            (d(&[], &["run"]), Ok("0.1.0")),
            (d(&["runspec:plugin/host@0.1.0"], &["wasi:cli/run@0.2.0"]), Err("does not export `run`")),
        ];
        for (desc, want) in table {
            match (desc.check_runnable(), want) {
                (Ok(v), Ok(w)) => assert_eq!(&v, w),
                (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
                (got, want) => panic!("{desc:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
