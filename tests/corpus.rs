//! Runs every buildspec under `tests/corpus/<case>/` through the `runspec` binary and checks it
//! against `<case>/expect.json`:
//!
//! ```json
//! {"status": "FAILED", "phases": ["BUILD=FAILED", ...], "output": ["a line"],
//!  "absent": ["a line that must not appear"], "artifacts": {"artifacts.zip": ["a.txt"]},
//!  "exported": {"NAME": "value"}}
//! ```
//!
//! Each case directory is the build's source. Adding a case means adding a directory.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn check_case(dir: &Path) -> Result<(), String> {
    let expect: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("expect.json")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("expect.json: {e}"))?;
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let result = out.path().join("build.json");
    let output = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["run", "--source"])
        .arg(dir)
        .arg("--artifacts")
        .arg(out.path().join("artifacts"))
        .arg("--result")
        .arg(&result)
        .env("RUNSPEC_STATE_DIR", out.path())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let fail = |what: String| {
        Err(format!(
            "{what}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    };
    let build: Value = match fs::read_to_string(&result).ok().and_then(|t| serde_json::from_str(&t).ok()) {
        Some(b) => b,
        None => return fail("no result file".into()),
    };
    if build["buildStatus"] != expect["status"] {
        return fail(format!("status {} != {}", build["buildStatus"], expect["status"]));
    }
    if let Some(phases) = expect.get("phases") {
        let got: Vec<String> = build["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                !p["phaseStatus"].is_null()
                    && !matches!(
                        p["phaseType"].as_str(),
                        Some("SUBMITTED" | "QUEUED" | "PROVISIONING" | "FINALIZING")
                    )
            })
            .map(|p| {
                format!(
                    "{}={}",
                    p["phaseType"].as_str().unwrap_or(""),
                    p["phaseStatus"].as_str().unwrap_or("")
                )
            })
            .collect();
        let want: Vec<String> = serde_json::from_value(phases.clone()).map_err(|e| e.to_string())?;
        if got != want {
            return fail(format!("phases {got:?} != {want:?}"));
        }
    }
    let lines: Vec<&str> = stdout.lines().collect();
    for line in expect["output"].as_array().into_iter().flatten() {
        let line = line.as_str().unwrap_or("");
        if !lines
            .iter()
            .any(|l| *l == line || l.strip_prefix("[Container] ").and_then(|r| r.get(27..)) == Some(line))
        {
            return fail(format!("missing line `{line}`"));
        }
    }
    for text in expect["absent"].as_array().into_iter().flatten() {
        let text = text.as_str().unwrap_or("");
        if lines.contains(&text) {
            return fail(format!("unexpected line `{text}`"));
        }
    }
    for (name, want) in expect["artifacts"].as_object().into_iter().flatten() {
        let f =
            fs::File::open(out.path().join("artifacts").join(name)).map_err(|e| format!("{name}: {e}"))?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| e.to_string())?;
        let mut names: Vec<String> = (0..z.len())
            .filter_map(|i| z.by_index(i).ok().and_then(|f| f.name().ok().map(|n| n.into_owned())))
            .collect();
        names.sort();
        let want: Vec<String> = serde_json::from_value(want.clone()).map_err(|e| e.to_string())?;
        if names != want {
            return fail(format!("{name}: {names:?} != {want:?}"));
        }
    }
    for (name, value) in expect["exported"].as_object().into_iter().flatten() {
        let got = build["exportedEnvironmentVariables"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name.as_str());
        if got.map(|v| &v["value"]) != Some(value) {
            return fail(format!("exported {name}: {got:?} != {value}"));
        }
    }
    Ok(())
}

#[test]
fn corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus");
    let mut cases: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "the corpus is missing");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check_case(c).err().map(|e| format!("=== {}\n{e}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
