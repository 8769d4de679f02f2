//! `runspec worker --codepipeline-action` against a stand-in for CodePipeline's job API whose
//! every request and answer is validated against botocore's own model
//! (`codepipeline_stand_in.py`), with the artifacts on moto's S3: a job that succeeds (inputs
//! downloaded with the job's credentials, CODEBUILD_SRC_DIR_<artifact>, the output uploaded
//! with SSE-KMS, the build id and exported variables in the answer), a build that outlives the
//! job window (continuation tokens), and one that fails.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::aws::{block, sdk, unique};

const NEEDS: &str = "needs moto and the test venv: run scripts/test.sh";

struct StandIn {
    child: Child,
    url: String,
}

impl StandIn {
    fn start() -> StandIn {
        let venv = std::env::var("RUNSPEC_TEST_VENV").expect(NEEDS);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/codepipeline_stand_in.py");
        let mut child =
            Command::new(format!("{venv}/bin/python")).arg(script).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("the stand-in did not start").to_string();
        StandIn { child, url }
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let out = Command::new("curl")
            .args(["-fsS", "-X", "POST", "--data-binary"])
            .arg(body.to_string())
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn state(&self) -> Value {
        let out = Command::new("curl").args(["-fsS", &format!("{}/_test/state", self.url)]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits until the results hold `n` final answers (not continuations; a generous deadline
    /// only catches hangs).
    fn results(&self, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let state = self.state();
            let finals = state["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["input"]["continuationToken"].is_null())
                .count();
            if finals >= n {
                return state;
            }
            assert!(Instant::now() < deadline, "{n} results never came: {state:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk()).force_path_style(true).build())
}

/// A job's data as CodePipeline hands it to a custom action's worker.
fn job(bucket: &str, inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> Value {
    let artifact = |(name, key): &(&str, &str)| json!({"name": name, "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}}});
    json!({
        "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "runspec", "version": "1"},
        "actionConfiguration": {"configuration": {"ProjectName": "app", "PrimarySource": "SourceArtifact"}},
        "pipelineContext": {"pipelineName": "real-pipeline", "stage": {"name": "Build"},
            "action": {"name": "Build", "actionExecutionId": "7e1c9c0e-1d0b-4c3e-9f7e-0c3b1a2d4e5f"},
            "pipelineArn": "arn:aws:codepipeline:us-east-1:123456789012:real-pipeline",
            "pipelineExecutionId": "2f5c1a3e-4b6d-4e8f-9a0b-1c2d3e4f5a6b"},
        "inputArtifacts": inputs.iter().map(artifact).collect::<Vec<_>>(),
        "outputArtifacts": outputs.iter().map(artifact).collect::<Vec<_>>(),
        "artifactCredentials": {"accessKeyId": "testing", "secretAccessKey": "testing", "sessionToken": "token"},
        "encryptionKey": {"id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "type": "KMS"}
    })
}

#[test]
#[ignore = "needs moto and the test venv: run scripts/test.sh"]
fn a_custom_action_s_jobs_run_as_builds() {
    let moto = std::env::var("RUNSPEC_TEST_MOTO_URL").expect(NEEDS);
    let bucket = unique("artifacts");
    let buildspec = "version: 0.2\nenv:\n  exported-variables: [IMAGE_TAG]\nphases:\n  build:\n    commands:\n      - echo \"initiator=$CODEBUILD_INITIATOR lib=$(cat $CODEBUILD_SRC_DIR_LibArtifact/lib.txt)\"\n      - IMAGE_TAG=$(cat version.txt)\n      - sh -c \"$RUN\"\n      - mkdir -p out && echo \"built $IMAGE_TAG\" > out/app.txt\nartifacts:\n  base-directory: out\n  files:\n    - '**/*'\n";
    block(async {
        let s3 = s3();
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let slow = buildspec.replace("sh -c \"$RUN\"", "sleep 5");
        let failing = buildspec.replace("sh -c \"$RUN\"", "exit 3");
        for (key, files) in [
            ("src.zip", zip_of(&[("buildspec.yml", buildspec), ("version.txt", "v42")])),
            ("slow.zip", zip_of(&[("buildspec.yml", &slow), ("version.txt", "v43")])),
            ("fail.zip", zip_of(&[("buildspec.yml", &failing), ("version.txt", "v44")])),
            ("lib.zip", zip_of(&[("lib.txt", "from-lib")])),
        ] {
            s3.put_object().bucket(&bucket).key(key).body(files.into()).send().await.unwrap();
        }
    });
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project.json");
    std::fs::write(
        &project,
        json!({"name": "app", "source": {"type": "CODEPIPELINE"}, "artifacts": {"type": "CODEPIPELINE"},
               "environment": {"type": "LINUX_CONTAINER", "image": "runspec/host", "computeType": "BUILD_GENERAL1_SMALL",
                               "environmentVariables": [{"name": "RUN", "value": "true"}]}})
        .to_string(),
    )
    .unwrap();
    let stand_in = StandIn::start();
    let inputs = [("SourceArtifact", "src.zip"), ("LibArtifact", "lib.zip")];
    let good =
        stand_in.post("/_test/jobs", &job(&bucket, &inputs, &[("BuildArtifact", "out/build.zip")]))["id"]
            .as_str()
            .unwrap()
            .to_string();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_runspec"))
        .args([
            "worker",
            "--codepipeline-action",
            "provider=runspec",
            "--host-image-allowed",
            "--job-window",
            "2",
        ])
        .arg("--project")
        .arg(format!("app={}", project.display()))
        .arg("--state-dir")
        .arg(work.path().join("state"))
        .env("AWS_ENDPOINT_URL_CODEPIPELINE", &stand_in.url)
        .env("AWS_ENDPOINT_URL", &moto)
        .env("AWS_ACCESS_KEY_ID", "worker-key")
        .env("AWS_SECRET_ACCESS_KEY", "worker-secret")
        .env("AWS_REGION", "us-east-1")
        .env("RUNSPEC_STATE_DIR", work.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reap = Reap { pid: worker.id() as i32, armed: true };
    let stdout = worker.stdout.take().unwrap();
    let log = std::thread::spawn(move || {
        std::io::BufReader::new(stdout).lines().map(|l| l.unwrap()).collect::<Vec<_>>()
    });

    // The first job: the build's answer, its output in the artifact store, encrypted.
    let state = stand_in.results(1);
    let first = &state["results"][0];
    assert_eq!(first["operation"], "PutJobSuccessResult", "{state:#}");
    assert_eq!(first["input"]["jobId"], good.as_str());
    assert_eq!(first["input"]["outputVariables"], json!({"IMAGE_TAG": "v42"}));
    let build_id = first["input"]["executionDetails"]["externalExecutionId"].as_str().unwrap().to_string();
    assert!(build_id.starts_with("app:"), "{build_id}");
    let (zip, sse) = block(async {
        let o = s3().get_object().bucket(&bucket).key("out/build.zip").send().await.unwrap();
        let sse = (
            o.server_side_encryption().map(|s| s.as_str().to_string()),
            o.ssekms_key_id().map(str::to_string),
        );
        (o.body.collect().await.unwrap().into_bytes().to_vec(), sse)
    });
    assert_eq!(sse.0.as_deref(), Some("aws:kms"));
    assert!(sse.1.unwrap_or_default().ends_with("1234abcd-12ab-34cd-56ef-1234567890ab"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("app.txt").unwrap(), &mut text).unwrap();
    assert_eq!(text, "built v42\n");

    // A build longer than the job window (it sleeps 5 s, the window is 2 s): a continuation
    // token, then the same build's end.
    stand_in.post(
        "/_test/jobs",
        &job(&bucket, &[("SourceArtifact", "slow.zip"), ("LibArtifact", "lib.zip")], &[]),
    );
    let state = stand_in.results(2);
    let results = state["results"].as_array().unwrap();
    let continued = results.iter().find(|r| r["input"]["continuationToken"].is_string());
    let continued = continued.unwrap_or_else(|| panic!("no continuation: {state:#}"));
    assert_eq!(continued["operation"], "PutJobSuccessResult");
    let final_answer = results.last().unwrap();
    assert_eq!(final_answer["operation"], "PutJobSuccessResult", "{state:#}");
    assert!(final_answer["input"]["continuationToken"].is_null());
    assert_eq!(final_answer["input"]["outputVariables"], json!({"IMAGE_TAG": "v43"}));
    assert_eq!(
        final_answer["input"]["executionDetails"]["externalExecutionId"],
        continued["input"]["executionDetails"]["externalExecutionId"],
        "the continued job waited for the same build"
    );

    // A failing build and a project the worker does not have: PutJobFailureResult.
    stand_in.post(
        "/_test/jobs",
        &job(&bucket, &[("SourceArtifact", "fail.zip"), ("LibArtifact", "lib.zip")], &[]),
    );
    let mut unknown = job(&bucket, &inputs, &[]);
    unknown["actionConfiguration"]["configuration"]["ProjectName"] = json!("nope");
    stand_in.post("/_test/jobs", &unknown);
    let state = stand_in.results(4);
    let results: Vec<&Value> = state["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["input"]["continuationToken"].is_null())
        .collect();
    let failed = results[2];
    assert_eq!(failed["operation"], "PutJobFailureResult", "{state:#}");
    assert_eq!(failed["input"]["failureDetails"]["type"], "JobFailed");
    assert!(
        failed["input"]["failureDetails"]["message"].as_str().unwrap().contains("BUILD FAILED"),
        "{state:#}"
    );
    assert!(failed["input"]["failureDetails"]["externalExecutionId"].as_str().unwrap().starts_with("app:"));
    let unknown = results[3];
    assert_eq!(unknown["operation"], "PutJobFailureResult");
    assert!(
        unknown["input"]["failureDetails"]["message"]
            .as_str()
            .unwrap()
            .contains("--project nope=PROJECT.json")
    );

    // Every request the worker made fit botocore's model; every job was acknowledged first.
    assert_eq!(state["errors"], json!([]), "{state:#}");
    let continuations = state["results"].as_array().unwrap().len() - results.len();
    assert_eq!(state["acknowledged"].as_array().unwrap().len(), 4 + continuations);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(worker.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let status = worker.wait().unwrap();
    reap.armed = false;
    assert_eq!(status.code(), Some(0));
    let lines = log.join().unwrap();
    assert!(
        lines.iter().any(|l| l.ends_with("initiator=codepipeline/real-pipeline lib=from-lib")),
        "{lines:#?}"
    );
}

/// Kills the worker when the test ends before it does (a failed assertion), so a worker never
/// outlives its test.
struct Reap {
    pid: i32,
    armed: bool,
}

impl Drop for Reap {
    fn drop(&mut self) {
        if self.armed {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
