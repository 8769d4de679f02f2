//! The README's first command: the example build runs and produces its artifacts.

use std::fs;
use std::process::Command;

#[test]
fn example_buildspec_builds_its_artifacts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let src = tempfile::tempdir().unwrap();
    for f in ["Cargo.toml", "README.md", "buildspec.example.yml"] {
        fs::copy(root.join(f), src.path().join(f)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let result = out.path().join("build.json");
    let status = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["run", "--buildspec", "buildspec.example.yml", "--artifacts"])
        .arg(out.path())
        .arg("--result")
        .arg(&result)
        .current_dir(src.path())
        .env("RUNSPEC_STATE_DIR", out.path())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&status.stderr));
    let build: serde_json::Value = serde_json::from_str(&fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(build["buildStatus"], "SUCCEEDED");
    let version = build["exportedEnvironmentVariables"][0]["value"].as_str().unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let mut site = zip::ZipArchive::new(fs::File::open(out.path().join("artifacts.zip")).unwrap()).unwrap();
    let mut names: Vec<String> =
        (0..site.len()).map(|i| site.by_index(i).unwrap().name().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["README.md", "SHA256SUMS", "build-info.json", "buildspec.example.yml"]);
    let mut deploy = zip::ZipArchive::new(fs::File::open(out.path().join("deploy.zip")).unwrap()).unwrap();
    let defs: serde_json::Value =
        serde_json::from_reader(deploy.by_name("imagedefinitions.json").unwrap()).unwrap();
    assert_eq!(defs[0]["imageUri"], "123456789012.dkr.ecr.us-east-1.amazonaws.com/runspec-example:latest");
}
