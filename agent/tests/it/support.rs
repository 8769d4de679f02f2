//! A temp source directory, a run of the binary, and accessors for what it produced.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub struct Ctx {
    pub src: tempfile::TempDir,
    pub out: tempfile::TempDir,
    state: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub build: Value,
    /// The artifacts directory; it lives as long as the `Run`.
    pub out: PathBuf,
    _out_dir: Option<tempfile::TempDir>,
}

impl Ctx {
    pub fn new(buildspec: &str) -> Ctx {
        let ctx = Ctx {
            src: tempfile::tempdir().unwrap(),
            out: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
        };
        ctx.write("buildspec.yml", buildspec);
        ctx
    }

    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let p = self.src.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runspec"));
        cmd.arg("run")
            .arg("--source")
            .arg(self.src.path())
            .arg("--result")
            .arg(self.out.path().join("build.json"))
            .env("RUNSPEC_STATE_DIR", self.state.path())
            // Compiled plugins are cached across the tests.
            .env("RUNSPEC_CACHE_DIR", concat!(env!("CARGO_TARGET_TMPDIR"), "/runspec-cache"))
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION");
        cmd
    }

    /// Runs with extra arguments.
    pub fn run_with(&self, args: &[&str]) -> Run {
        let output = self.command().args(args).output().unwrap();
        self.finish(output)
    }

    pub fn run(&self) -> Run {
        self.run_with(&[])
    }

    /// Runs with artifacts written to `out/artifacts`.
    pub fn run_artifacts(&self, extra: &[&str]) -> Run {
        let out_dir = tempfile::tempdir().unwrap();
        let dir = out_dir.path().join("artifacts");
        let mut args = vec!["--artifacts", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut run = self.run_with(&args);
        run.out = dir;
        run._out_dir = Some(out_dir);
        run
    }

    pub fn finish(&self, output: Output) -> Run {
        let build_path = self.out.path().join("build.json");
        let build = fs::read_to_string(&build_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let _ = fs::remove_file(&build_path);
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            build,
            out: self.out.path().join("artifacts"),
            _out_dir: None,
        }
    }
}

impl Run {
    pub fn status(&self) -> &str {
        self.build["buildStatus"].as_str().unwrap_or("<no result>")
    }

    /// Status of each phase that ran, SUBMITTED … UPLOAD_ARTIFACTS, as `PHASE=STATUS`.
    pub fn phases(&self) -> Vec<String> {
        self.build["phases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|p| {
                        !matches!(
                            p["phaseType"].as_str(),
                            Some("SUBMITTED" | "QUEUED" | "PROVISIONING" | "FINALIZING" | "COMPLETED")
                        )
                    })
                    .map(|p| {
                        format!("{}={}", p["phaseType"].as_str().unwrap(), p["phaseStatus"].as_str().unwrap())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn phase(&self, name: &str) -> &Value {
        self.build["phases"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["phaseType"] == name))
            .unwrap_or(&Value::Null)
    }

    pub fn context(&self, name: &str) -> (String, String) {
        let c = &self.phase(name)["contexts"][0];
        (c["statusCode"].as_str().unwrap_or("").to_string(), c["message"].as_str().unwrap_or("").to_string())
    }

    /// Agent lines without the `[Container] <timestamp> ` prefix; output lines as they are.
    pub fn log(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(|l| match l.strip_prefix("[Container] ") {
                Some(rest) => format!("> {}", rest.get(27..).unwrap_or("")),
                None => l.to_string(),
            })
            .collect()
    }

    pub fn has_line(&self, line: &str) -> bool {
        self.log().iter().any(|l| l == line)
    }

    /// The command output lines only (no agent lines, no blank lines).
    pub fn output(&self) -> Vec<String> {
        self.log().into_iter().filter(|l| !l.starts_with("> ") && !l.is_empty()).collect()
    }

    pub fn exported(&self) -> Vec<(String, String)> {
        self.build["exportedEnvironmentVariables"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| {
                        (v["name"].as_str().unwrap().to_string(), v["value"].as_str().unwrap().to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn zip_names(&self, name: &str) -> Vec<String> {
        let f =
            fs::File::open(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.stdout));
        let mut z = zip::ZipArchive::new(f).unwrap();
        let mut names: Vec<String> =
            (0..z.len()).map(|i| z.by_index(i).unwrap().name().unwrap().to_string()).collect();
        names.sort();
        names
    }
}

pub fn assert_file(path: &Path) {
    assert!(path.exists(), "{} should exist", path.display());
}

/// `git daemon` on a free loopback port serving the repositories under a directory: a remote git
/// source as a server would clone it (`git://127.0.0.1:PORT/NAME`). Stopped when dropped.
pub struct GitDaemon {
    child: std::process::Child,
    pub base: String,
}

impl GitDaemon {
    pub fn start(dir: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("git")
            .args(["daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", dir.display()))
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let daemon = GitDaemon { child, base: format!("git://127.0.0.1:{port}") };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        daemon
    }

    /// The URL of the repository `name` under the served directory.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
