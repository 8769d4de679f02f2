//! `runspec worker --codepipeline-action`: this machine as a real pipeline's build capacity. A
//! CodePipeline custom action (owner `Custom`) hands its jobs to job workers: the worker polls
//! for them (PollForJobs), claims one with its nonce (AcknowledgeJob), downloads the input
//! artifacts from the artifact store with the job's `artifactCredentials`, runs the project
//! the action's `ProjectName` names as a runspec build (CodePipeline's semantics, as
//! `pipeline run` gives them: `CODEBUILD_SRC_DIR_<artifact>`, the primary artifact, exported
//! variables), uploads the output artifacts as ZIPs (SSE-KMS with the job's `encryptionKey`),
//! and answers PutJobSuccessResult (the build id as `externalExecutionId`, the exported
//! variables as `outputVariables`) or PutJobFailureResult. A build that outlives `--job-window`
//! keeps running: the worker answers with a continuation token, and CodePipeline's next job
//! for the action carries it back, so the action waits for the same build (the Jenkins plugin
//! and the CodeBuild emulator work the same way).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::build::BuildRequest;
use crate::project::Project;
use crate::shapes::codepipeline::{ActionTypeId, Artifact, Job, PollForJobsOutput};

/// `--codepipeline-action provider=NAME[,category=Build][,version=1]`: the custom action type
/// whose jobs this worker takes.
pub fn action_type(spec: &str) -> Result<ActionTypeId, String> {
    let mut t = ActionTypeId {
        category: "Build".into(),
        owner: "Custom".into(),
        provider: String::new(),
        version: "1".into(),
    };
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
        match key {
            "provider" => t.provider = value.to_string(),
            "category" => t.category = value.to_string(),
            "version" => t.version = value.to_string(),
            other => return Err(format!("`{other}` is not provider, category or version")),
        }
    }
    if t.provider.is_empty() {
        return Err("name the custom action's provider: provider=NAME".into());
    }
    // The model's own bounds for the action type id.
    let checked = serde_json::to_value(&t).map_err(|e| e.to_string())?;
    crate::serve::wire::model::CODEPIPELINE.check_shape("ActionTypeId", &checked).map_err(|e| match e {
        crate::serve::wire::model::Invalid::Serialization(m)
        | crate::serve::wire::model::Invalid::Constraints(m) => m,
    })?;
    Ok(t)
}

/// How the worker runs.
pub struct Options {
    pub action: ActionTypeId,
    /// `--project NAME=FILE`: the projects a job's `ProjectName` may name.
    pub projects: BTreeMap<String, Project>,
    /// Where jobs' artifacts and workspaces are kept while they run.
    pub work_dir: PathBuf,
    /// How long one job waits for its build before it answers with a continuation token.
    pub window: Duration,
    /// How long the worker waits between polls that found no job.
    pub idle: Duration,
    /// What every build shares (image policy, Docker mode, limits, credentials).
    pub template: BuildRequest,
    /// Run every build on this machine's shell.
    pub host: bool,
    /// Builds whose project names `runspec/host` may run on this machine's shell.
    pub host_image_allowed: bool,
}

/// A build under way, by continuation token.
struct Running {
    build_id: String,
    ended: oneshot::Receiver<Result<Ended, String>>,
}

/// How a build ended, as the job's answer needs it.
struct Ended {
    succeeded: bool,
    summary: String,
    variables: BTreeMap<String, String>,
}

/// Takes jobs until `stop` turns true. `ready` is called once the first poll answered.
pub async fn serve(
    api: crate::json_api::Client,
    options: Options,
    mut stop: watch::Receiver<bool>,
    ready: impl FnOnce(),
) -> Result<(), String> {
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut ready = Some(ready);
    while !*stop.borrow() {
        let polled = api
            .call("PollForJobs", &json!({"actionTypeId": options.action, "maxBatchSize": 1}))
            .await
            .map_err(|e| format!("PollForJobs at {}: {e}", api.endpoint()));
        if let Some(r) = ready.take() {
            r();
        }
        let jobs = match polled
            .and_then(|v| serde_json::from_value::<PollForJobsOutput>(v).map_err(|e| e.to_string()))
        {
            Ok(o) => o.jobs.unwrap_or_default(),
            Err(e) => {
                tracing::warn!("{e}");
                eprintln!("runspec worker: {e}");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(options.idle) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        for job in jobs {
            if let Err(e) = take(&api, &options, &mut running, job, stop.clone()).await {
                eprintln!("runspec worker: {e}");
            }
        }
    }
    Ok(())
}

/// One job: claimed, then started or continued, then answered.
async fn take(
    api: &crate::json_api::Client,
    options: &Options,
    running: &mut BTreeMap<String, Running>,
    job: Job,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let id = job.id.clone().ok_or("a job without an id")?;
    let nonce = job.nonce.clone().unwrap_or_default();
    api.call("AcknowledgeJob", &json!({"jobId": id, "nonce": nonce}))
        .await
        .map_err(|e| format!("AcknowledgeJob {id}: {e}"))?;
    let data = job.data.unwrap_or_default();
    let token = match data.continuation_token.clone() {
        Some(token) if running.contains_key(&token) => token,
        Some(token) => {
            return fail(
                api,
                &id,
                &format!("no build of this worker continues as {token} (the worker restarted?)"),
                None,
            )
            .await;
        }
        None => match start(options, &id, &data, stop).await {
            Ok((token, run)) => {
                eprintln!("runspec worker: job {id} runs build {}", run.build_id);
                running.insert(token.clone(), run);
                token
            }
            Err(e) => return fail(api, &id, &e, None).await,
        },
    };
    let Some(run) = running.get_mut(&token) else { return Ok(()) };
    let build_id = run.build_id.clone();
    match tokio::time::timeout(options.window, &mut run.ended).await {
        Err(_) => {
            // The build goes on; the next job for this action carries the token back.
            let answer = json!({"jobId": id, "continuationToken": token,
                "executionDetails": {"summary": format!("build {build_id} is running"), "externalExecutionId": build_id, "percentComplete": 50}});
            api.call("PutJobSuccessResult", &answer)
                .await
                .map_err(|e| format!("PutJobSuccessResult {id}: {e}"))?;
            Ok(())
        }
        Ok(ended) => {
            running.remove(&token);
            let work = options.work_dir.join(&token);
            let result = match ended {
                Ok(Ok(e)) if e.succeeded => match upload_outputs(&data, &work.join("out")).await {
                    Ok(()) => {
                        let answer = json!({"jobId": id,
                            "executionDetails": {"summary": clip(&e.summary, 2048), "externalExecutionId": build_id, "percentComplete": 100},
                            "outputVariables": e.variables});
                        api.call("PutJobSuccessResult", &answer)
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("PutJobSuccessResult {id}: {e}"))
                    }
                    Err(why) => fail(api, &id, &why, Some(&build_id)).await,
                },
                Ok(Ok(e)) => fail(api, &id, &e.summary, Some(&build_id)).await,
                Ok(Err(why)) => fail(api, &id, &why, Some(&build_id)).await,
                Err(_) => fail(api, &id, "the build thread ended without an answer", Some(&build_id)).await,
            };
            let _ = std::fs::remove_dir_all(&work);
            result
        }
    }
}

/// PutJobFailureResult with CodePipeline's `JobFailed`.
async fn fail(
    api: &crate::json_api::Client,
    id: &str,
    message: &str,
    build: Option<&str>,
) -> Result<(), String> {
    let mut details = json!({"type": "JobFailed", "message": clip(message, 5000)});
    if let Some(b) = build {
        details["externalExecutionId"] = Value::String(b.to_string());
    }
    api.call("PutJobFailureResult", &json!({"jobId": id, "failureDetails": details}))
        .await
        .map(|_| ())
        .map_err(|e| format!("PutJobFailureResult {id}: {e}"))
}

/// At most `n` characters (the model's bounds on summaries and messages).
fn clip(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Downloads the inputs and starts the build on a thread of its own; its continuation token
/// (the build's uuid) and how to learn its end.
async fn start(
    options: &Options,
    job: &str,
    data: &crate::shapes::codepipeline::JobData,
    stop: watch::Receiver<bool>,
) -> Result<(String, Running), String> {
    let config = data.action_configuration.as_ref().and_then(|c| c.configuration.clone()).unwrap_or_default();
    let project_name =
        config.get("ProjectName").cloned().ok_or("the action's configuration has no ProjectName")?;
    let project = options.projects.get(&project_name).cloned().ok_or_else(|| {
        format!(
            "this worker has no project {project_name}: start it with --project {project_name}=PROJECT.json"
        )
    })?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let work = options.work_dir.join(&uuid);
    let inputs = data.input_artifacts.clone().unwrap_or_default();
    let mut dirs = Vec::new();
    for a in &inputs {
        let name = a.name.clone().ok_or("an input artifact without a name")?;
        let dir = work.join("in").join(&name);
        download(data, a, &dir).await?;
        dirs.push((name, dir));
    }
    if dirs.is_empty() {
        return Err("the job has no input artifact".into());
    }
    let primary = match config.get("PrimarySource") {
        Some(p) => dirs
            .iter()
            .position(|(n, _)| n == p)
            .ok_or_else(|| format!("PrimarySource {p} is not an input artifact"))?,
        None => 0,
    };
    let outputs: Vec<String> =
        data.output_artifacts.iter().flatten().filter_map(|a| a.name.clone()).collect();
    let out_dir = work.join("out");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot make {}: {e}", out_dir.display()))?;
    let mut req = options.template.clone();
    let image = if options.host { None } else { project.image.clone() };
    req.image = match image.as_deref() {
        Some(crate::build::HOST_IMAGE) if !options.host_image_allowed => {
            return Err(format!(
                "the project {project_name} names {}: this worker runs it only with --host-image-allowed (or --host)",
                crate::build::HOST_IMAGE
            ));
        }
        Some(crate::build::HOST_IMAGE) => None,
        _ => image,
    };
    req.privileged = project.privileged;
    req.timeout =
        project.timeout_minutes.map(|m| Duration::from_secs(m * 60)).or(Some(Duration::from_secs(3600)));
    req.primary = dirs[primary].1.clone();
    req.secondary = dirs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != primary)
        .map(|(_, (n, d))| crate::workspace::Source { id: Some(n.clone()), dir: d.clone() })
        .collect();
    let pipeline = data.pipeline_context.as_ref().and_then(|c| c.pipeline_name.clone()).unwrap_or_default();
    req.initiator = Some(format!("codepipeline/{pipeline}"));
    req.uuid = Some(uuid.clone());
    req.project_name = project_name.clone();
    req.project = project;
    req.artifacts = super::actions::artifact_settings(&out_dir, "job", &outputs);
    if req.image.is_none() {
        req.host_isolation = Some(crate::build::HostIsolation::default());
    }
    let build_id = format!("{project_name}:{uuid}");
    let (tx, rx) = oneshot::channel();
    let prefix = format!("[{job}] ");
    std::thread::Builder::new()
        .name(format!("job-{job}"))
        .stack_size(16 << 20)
        .spawn(move || {
            let ended = run_build(req, &prefix, stop).and_then(|e| {
                if e.succeeded {
                    super::actions::settle_outputs(&out_dir, "job", &outputs).map(|()| e)
                } else {
                    Ok(e)
                }
            });
            let _ = tx.send(ended);
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    Ok((uuid, Running { build_id, ended: rx }))
}

/// Runs the build with its log on stdout, each line after `prefix`.
fn run_build(req: BuildRequest, prefix: &str, stop: watch::Receiver<bool>) -> Result<Ended, String> {
    struct Stderr;
    impl crate::build::Notices for Stderr {
        fn warning(&self, message: &str) {
            eprintln!("warning: {message}");
        }
        fn diagnostics(&self, rendered: &str) {
            eprint!("{rendered}");
        }
    }
    let prefix = prefix.to_string();
    let lines = crate::log::lines::Lines::new(move |line: &[u8]| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(prefix.as_bytes());
        let _ = out.write_all(line);
        let _ = out.write_all(b"\n");
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let finished = runtime
        .block_on(crate::build::run(req, crate::log::CodeBuildLog::new(lines), stop, &Stderr))
        .map_err(|e| format!("the build could not start: {}", e.0))?;
    let report = &finished.report;
    Ok(Ended {
        succeeded: report.status == crate::engine::Status::Succeeded,
        summary: format!("build {}: {}", finished.identity.id, crate::result::summary(report)),
        variables: report.exported.iter().cloned().collect(),
    })
}

/// An S3 client with the job's own credentials (the artifact store's), in the standard chain's
/// region and endpoint.
async fn artifact_client(data: &crate::shapes::codepipeline::JobData) -> Result<aws_sdk_s3::Client, String> {
    let c = data.artifact_credentials.clone().ok_or("the job has no artifactCredentials")?;
    let credentials = aws_credential_types::Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token).filter(|t| !t.is_empty()),
        None,
        "codepipeline-job",
    );
    let region = crate::aws::region_or_env(None);
    let config = crate::aws::sdk_config(&region, None)
        .await
        .into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .build();
    Ok(crate::aws::s3_client(&config))
}

/// Where an artifact lives in the artifact store.
fn location(a: &Artifact) -> Result<(String, String), String> {
    let s3 = a
        .location
        .as_ref()
        .and_then(|l| l.s3_location.as_ref())
        .ok_or_else(|| format!("the artifact {} has no S3 location", a.name.as_deref().unwrap_or("?")))?;
    Ok((s3.bucket_name.clone(), s3.object_key.clone()))
}

/// Downloads an input artifact (a ZIP) and unpacks it into `dir`; entries that would land
/// outside it are refused.
async fn download(
    data: &crate::shapes::codepipeline::JobData,
    a: &Artifact,
    dir: &Path,
) -> Result<(), String> {
    let (bucket, key) = location(a)?;
    let client = artifact_client(data).await?;
    let object = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| format!("cannot download s3://{bucket}/{key}: {}", crate::aws::error_text(&e)))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let zip_path = dir.with_extension("zip");
    let mut file = tokio::fs::File::create(&zip_path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", zip_path.display()))?;
    let mut body = object.body.into_async_read();
    tokio::io::copy(&mut body, &mut file)
        .await
        .map_err(|e| format!("cannot download s3://{bucket}/{key}: {e}"))?;
    drop(file);
    let unpacked = std::fs::File::open(&zip_path)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| format!("s3://{bucket}/{key} is not a ZIP: {e}")))
        .and_then(|mut z| z.extract(dir).map_err(|e| format!("cannot unpack s3://{bucket}/{key}: {e}")));
    let _ = std::fs::remove_file(&zip_path);
    unpacked
}

/// Uploads each output artifact (a directory under `out`) as a ZIP to its place in the
/// artifact store, encrypted with the job's KMS key when it names one.
async fn upload_outputs(data: &crate::shapes::codepipeline::JobData, out: &Path) -> Result<(), String> {
    let outputs = data.output_artifacts.clone().unwrap_or_default();
    if outputs.is_empty() {
        return Ok(());
    }
    let client = artifact_client(data).await?;
    for a in &outputs {
        let name = a.name.clone().unwrap_or_default();
        let (bucket, key) = location(a)?;
        let dir = out.join(&name);
        let files = crate::artifacts::collect::collect(&dir, "", &["**/*".to_string()], &[], false, true)
            .map_err(|e| format!("cannot read the output artifact {name}: {e}"))?
            .files;
        let zip_path = out.join(format!("{name}.zip"));
        crate::artifacts::package::write_zip(&files, &zip_path)
            .map_err(|e| format!("cannot zip {name}: {e}"))?;
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&zip_path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", zip_path.display()))?;
        let mut put = client.put_object().bucket(&bucket).key(&key).body(body);
        if let Some(k) = data.encryption_key.as_ref().filter(|k| k.kind == "KMS") {
            put = put
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(&k.id);
        }
        put.send().await.map_err(|e| {
            format!("cannot upload {name} to s3://{bucket}/{key}: {}", crate::aws::error_text(&e))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_types() {
        let t = action_type("provider=runspec").unwrap();
        assert_eq!(
            (t.category.as_str(), t.owner.as_str(), t.provider.as_str(), t.version.as_str()),
            ("Build", "Custom", "runspec", "1")
        );
        let t = action_type("provider=runspec-gpu, category=Test, version=2").unwrap();
        assert_eq!((t.category.as_str(), t.version.as_str()), ("Test", "2"));
        assert!(action_type("category=Build").unwrap_err().contains("provider=NAME"));
        assert!(action_type("provider=x,colour=red").unwrap_err().contains("`colour`"));
        assert!(action_type("provider=x,category=Nope").is_err(), "the model's enum");
        assert!(action_type(&format!("provider={}", "p".repeat(40))).is_err(), "the model's length");
        assert_eq!(clip("abcdef", 3), "abc");
    }
}
