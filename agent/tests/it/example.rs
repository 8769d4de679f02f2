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
    // "No AWS account": every AWS endpoint, instance metadata included, points at a listener
    // that counts connections. The example names an ECR URI but pushes nothing, so runspec
    // must not call AWS at all.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let aws = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args(["run", "--buildspec", "buildspec.example.yml", "--artifacts"])
        .arg(out.path())
        .arg("--result")
        .arg(&result)
        .current_dir(src.path())
        .env("RUNSPEC_STATE_DIR", out.path())
        .env("AWS_ENDPOINT_URL", &aws)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &aws)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "{stdout}\n{stderr}");
    assert!(listener.accept().is_err(), "the example build called AWS");
    // The first run has no surprises: no SDK debug dumps, no colour codes, no ECR warning.
    assert!(
        !stderr.contains("aws_config") && !stderr.contains("WARN") && !stderr.contains('\x1b'),
        "{stderr}"
    );
    assert!(!stderr.contains("ECR"), "{stderr}");
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

#[test]
fn the_pipeline_example_runs_from_source_to_deploy() {
    // The README's pipeline command in a fresh repository of the example's files: the source is
    // its HEAD, the build runs buildspec.example.yml through the project file, the Commands
    // action checks the site, the approval is given, the ECS deploy checks imagedefinitions.json
    // (--deploy skip), and nothing calls AWS.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let src = tempfile::tempdir().unwrap();
    for f in
        ["Cargo.toml", "README.md", "buildspec.example.yml", "pipeline.example.json", "project.example.json"]
    {
        fs::copy(root.join(f), src.path().join(f)).unwrap();
    }
    let git = |args: &str| {
        let out =
            Command::new("sh").arg("-c").arg(format!("git {args}")).current_dir(src.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(
        "init -q -b main && git -c user.email=e@x -c user.name=E add -A && git -c user.email=e@x -c user.name=E commit -qm example",
    );
    let commit = git("rev-parse HEAD");
    let out = tempfile::tempdir().unwrap();
    let result = out.path().join("execution.json");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let aws = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let ran = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args([
            "pipeline",
            "run",
            "pipeline.example.json",
            "--project",
            "runspec-example=project.example.json",
        ])
        .args(["--host", "--approve", "all", "--artifacts"])
        .arg(out.path().join("store"))
        .arg("--result")
        .arg(&result)
        .current_dir(src.path())
        .env("RUNSPEC_STATE_DIR", out.path())
        .env("AWS_ENDPOINT_URL", &aws)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &aws)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(ran.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&ran.stderr));
    assert!(listener.accept().is_err(), "the example pipeline called AWS");
    let execution: serde_json::Value = serde_json::from_str(&fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(execution["pipelineExecution"]["status"], "Succeeded");
    let statuses: Vec<(&str, &str)> = execution["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["actionName"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("Source", "Succeeded"),
            ("Build", "Succeeded"),
            ("VerifySite", "Succeeded"),
            ("Release", "Succeeded"),
            ("Deploy", "Succeeded")
        ]
    );
    assert!(stdout.contains(&format!("site {} checked for staging", env!("CARGO_PKG_VERSION"))), "{stdout}");
    let id = execution["pipelineExecution"]["pipelineExecutionId"].as_str().unwrap();
    let store = out.path().join("store").join(id);
    let mut site: Vec<String> = fs::read_dir(store.join("SiteArtifact"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    site.sort();
    assert_eq!(site, ["README.md", "SHA256SUMS", "build-info.json", "buildspec.example.yml"]);
    let defs: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(store.join("deploy/imagedefinitions.json")).unwrap())
            .unwrap();
    assert_eq!(
        defs[0]["imageUri"],
        format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/runspec-example:{}", &commit[..7])
    );
    let release = &execution["actionExecutionDetails"][3];
    assert_eq!(
        release["input"]["resolvedConfiguration"]["CustomData"],
        format!("Deploy image tag {} (commit {commit}) to staging?", &commit[..7])
    );
}
