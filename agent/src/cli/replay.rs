//! `runspec replay BUILD`: reads a CodeBuild build and its project, runs the same build here
//! with the CodeBuild log on stdout, and prints on stderr what could not be reproduced and, at
//! the end, the original beside this run phase by phase.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{ReplayArgs, UsageError, exit, usage};
use crate::build::BuildRequest;
use crate::engine::Status;
use crate::replay::checkout::{self, Ready};
use crate::replay::client::{self, CodeBuild};
use crate::replay::compare;
use crate::replay::plan::{self, Fetch, SourcePlan};
use crate::workspace::Source;

pub fn replay(args: ReplayArgs) -> Result<u8, UsageError> {
    let runtime = super::runtime()?;
    runtime.block_on(replay_build(&args))
}

/// The build's record and its project (if it can be read), the region, and where they came from.
struct Record {
    build: Value,
    project: Option<Value>,
    region: String,
    origin: String,
    notes: Vec<String>,
}

/// From `--record FILE`: a `Build` object, or what `aws codebuild batch-get-builds` printed.
fn read_record(path: &Path, wanted: Option<&str>) -> Result<Record, UsageError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read `{}`: {e}", path.display())))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| usage(format!("`{}` is not JSON: {e}", path.display())))?;
    let builds: Vec<Value> = match value.get("builds").and_then(Value::as_array) {
        Some(list) => list.clone(),
        None => vec![value],
    };
    let build = match wanted {
        Some(id) => builds.into_iter().find(|b| b["id"] == id || b["arn"] == id),
        None => builds.into_iter().next(),
    }
    .filter(|b| b["id"].is_string())
    .ok_or_else(|| {
        usage(format!(
            "`{}` holds no build{}: give a Build object or the output of `aws codebuild batch-get-builds`",
            path.display(),
            wanted.map(|w| format!(" {w}")).unwrap_or_default()
        ))
    })?;
    let region = build["arn"]
        .as_str()
        .and_then(|arn| client::parse_build_ref(arn).ok())
        .and_then(|(_, r)| r)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    Ok(Record {
        build,
        project: None,
        region,
        origin: format!("from the record {}", path.display()),
        notes: vec![
            "the project is not read with --record: artifact names and packaging are runspec's defaults"
                .into(),
        ],
    })
}

/// Through the CodeBuild API: BatchGetBuilds, then BatchGetProjects.
async fn fetch_record(args: &ReplayArgs, given: &str) -> Result<Record, UsageError> {
    let (id, region) = client::parse_build_ref(given).map_err(usage)?;
    let id = id.as_str();
    let cb = CodeBuild::connect(region.as_deref(), args.profile.as_deref()).await.map_err(usage)?;
    let build = match cb.build(id).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(usage(format!(
                "{} (region {}) has no build {id}: check the id, the region (AWS_REGION, or give the build's ARN) and the account",
                cb.endpoint(),
                cb.region()
            )));
        }
        Err(e) => {
            let hint = if e.code.contains("AccessDenied") || e.code.contains("UnrecognizedClient") {
                ": replay needs codebuild:BatchGetBuilds (and codebuild:BatchGetProjects) with your credentials"
            } else {
                ""
            };
            return Err(usage(format!("cannot read build {id} from {}: {e}{hint}", cb.endpoint())));
        }
    };
    let name =
        build["projectName"].as_str().or(id.split_once(':').map(|(p, _)| p)).unwrap_or_default().to_string();
    let mut notes = Vec::new();
    let project = match cb.project(&name).await {
        Ok(p) => p,
        Err(e) => {
            notes.push(format!("the project {name} could not be read ({e})"));
            None
        }
    };
    Ok(Record {
        build,
        project,
        region: cb.region().to_string(),
        origin: format!("at CodeBuild {}", cb.endpoint()),
        notes,
    })
}

async fn replay_build(args: &ReplayArgs) -> Result<u8, UsageError> {
    let record = match (&args.record, &args.build) {
        (Some(path), wanted) => read_record(path, wanted.as_deref())?,
        (None, Some(given)) => fetch_record(args, given).await?,
        (None, None) => {
            return Err(usage("name the build to replay (PROJECT:UUID or its ARN), or give --record FILE"));
        }
    };
    let Record { build, project, region, origin, notes } = record;
    let choices = plan::Choices { image: args.image.clone(), host: args.host };
    let mut plan = plan::plan(&build, project.as_ref(), &choices).map_err(usage)?;
    // The plan's own "the project is gone" says less than why it is missing.
    if !notes.is_empty() {
        plan.not_reproduced.retain(|n| !n.starts_with("the project is gone"));
        plan.not_reproduced.splice(0..0, notes);
    }
    inline_s3_buildspec(&mut plan.effective, &region).await.map_err(usage)?;

    let project = crate::project::parse(&plan.effective.to_string())
        .map_err(|e| usage(format!("the build's settings: {e}")))?;
    // A project's LOCAL caches are this machine's: its source cache serves the clones below.
    let cache_dir = match &project.cache {
        Some(crate::project::ProjectCache::Local { modes })
            if modes.iter().any(|m| m == "LOCAL_SOURCE_CACHE") =>
        {
            crate::dirs::project_cache(&plan.project_name)
        }
        _ => None,
    };
    let cache_dir = cache_dir.as_deref();
    // The sources: the user's clones where given, else fetched as the build fetched them.
    let work =
        tempfile::Builder::new().prefix("runspec-replay-").tempdir().map_err(|e| usage(e.to_string()))?;
    let (dirs, ids) = given_dirs(&args.sources)?;
    for given in ids.keys() {
        if !plan.secondary.iter().any(|s| s.id.as_deref() == Some(given)) {
            let known: Vec<&str> = plan.secondary.iter().filter_map(|s| s.id.as_deref()).collect();
            return Err(usage(format!(
                "--source {given}=…: the build has no secondary source {given} (it has: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
    }
    let primary =
        ready(&plan.primary, dirs.as_deref(), &work.path().join("src"), cache_dir, &mut plan.not_reproduced)
            .await
            .map_err(usage)?;
    let mut secondary = Vec::new();
    let mut secondary_how = Vec::new();
    for s in &plan.secondary {
        let sid = s.id.clone().unwrap_or_default();
        let given = ids.get(&sid).map(PathBuf::as_path);
        let dest = work.path().join(format!("secondary-{sid}"));
        let r = ready(s, given, &dest, cache_dir, &mut plan.not_reproduced).await.map_err(usage)?;
        secondary_how.push(format!("  secondary source {sid}: {}", r.how));
        secondary.push(Source { id: Some(sid), dir: r.dir });
    }

    let artifacts_dir = match (&args.artifacts, args.original_artifacts) {
        (_, true) => None,
        (Some(a), false) => Some(a.clone()),
        (None, false) => {
            let uuid = crate::result::uuid_of(&plan.build_id);
            let base = crate::dirs::state().unwrap_or_else(std::env::temp_dir);
            Some(base.join("replays").join(uuid).join("artifacts").display().to_string())
        }
    };
    if args.original_artifacts && project.artifacts.is_none() {
        plan.not_reproduced.push(
            "--original-artifacts: the project (gone, or unreadable) does not say where artifacts went; none are kept"
                .into(),
        );
    }
    let artifacts = crate::build::artifact_settings(artifacts_dir.as_deref(), &project, &super::run::Stderr)
        .map_err(|e| usage(e.0))?;

    eprintln!(
        "runspec replay: {} ({} {origin})",
        plan.build_id,
        build["buildStatus"].as_str().unwrap_or("status unknown"),
    );
    eprintln!("  source: {}", primary.how);
    for line in &secondary_how {
        eprintln!("{line}");
    }
    eprintln!(
        "  image: {}{}",
        plan.image.as_deref().unwrap_or("this machine's shell"),
        if plan.privileged { " (privileged)" } else { "" }
    );
    match &artifacts_dir {
        Some(dir) => eprintln!("  artifacts: {dir}"),
        None => eprintln!("  artifacts: the original destination (--original-artifacts)"),
    }
    eprintln!("  not reproduced:");
    for n in &plan.not_reproduced {
        eprintln!("    - {n}");
    }

    let request = BuildRequest {
        primary: primary.dir.clone(),
        secondary,
        mount_source: primary.build_in_place,
        project_name: plan.project_name.clone(),
        timeout: Some(Duration::from_secs(plan.timeout_minutes.unwrap_or(60) * 60)),
        image: plan.image.clone(),
        privileged: plan.privileged,
        // The user's own machine: a project may choose its engine (RUNSPEC_DOCKER=host).
        docker: args.docker,
        docker_sidecar_image: Some(args.docker_sidecar_image.clone()),
        docker_host_allowed: true,
        no_limits: args.no_limits,
        artifacts,
        cache: args.cache.clone(),
        aws_credentials: args.aws_credentials,
        profile: args.profile.clone(),
        build_number: plan.build_number,
        initiator: plan.initiator.clone(),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        terminal: super::run::debug_terminal(args.debug),
        project,
        ..Default::default()
    };
    let image = plan.image.clone();
    let finished = super::run::logged(request).await.map_err(|e| match image {
        // CodeBuild's own images are rarely on a laptop (nor Docker, always): say how to go on.
        Some(image) => usage(format!(
            "{}\n  the build ran in {image}: pull it (or an image like it) and pass --image IMAGE, or run on this machine's shell with --host",
            e.message
        )),
        None => e,
    })?;
    super::run::write_result(&finished, args.result.as_deref());
    let here = finished.json();
    let comparison = compare::compare(&build, &here);
    eprintln!("\nrunspec replay: {} beside this run", plan.build_id);
    eprint!(
        "{}",
        compare::render(
            &comparison,
            build["buildStatus"].as_str().unwrap_or("?"),
            here["buildStatus"].as_str().unwrap_or("?")
        )
    );
    drop(work);
    Ok(if finished.report.status == Status::Succeeded { exit::OK } else { exit::FAILED })
}

/// `--source DIR` and `--source ID=DIR`: the primary (if given) and the secondary ones by id.
fn given_dirs(
    values: &[String],
) -> Result<(Option<PathBuf>, std::collections::HashMap<String, PathBuf>), UsageError> {
    let (primary, secondary) = super::run::sources(values)?;
    let ids = secondary.into_iter().filter_map(|s| Some((s.id?, s.dir))).collect();
    Ok((primary, ids))
}

/// One source on this machine, from the user's directory or fetched.
async fn ready(
    source: &SourcePlan,
    given: Option<&Path>,
    dest: &Path,
    cache_dir: Option<&Path>,
    notes: &mut Vec<String>,
) -> Result<Ready, String> {
    let what = match &source.id {
        Some(id) => format!("secondary source {id}"),
        None => "the source".to_string(),
    };
    match (given, &source.fetch) {
        (Some(dir), Fetch::Git { location, commit, .. }) => {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            checkout::from_clone(&dir, commit.as_ref(), Some(location), dest)
                .await
                .map_err(|e| format!("{what}: {e}"))
        }
        (Some(dir), fetch) => {
            notes.push(format!(
                "{what}: your directory {} as it is, in place of {}",
                dir.display(),
                describe(fetch)
            ));
            Ok(Ready {
                dir: dir.to_path_buf(),
                build_in_place: false,
                how: format!("your directory {} (copied)", dir.display()),
            })
        }
        (None, fetch) => checkout::fetch(fetch, dest, &what, cache_dir).await,
    }
}

fn describe(fetch: &Fetch) -> String {
    match fetch {
        Fetch::Empty => "no source".into(),
        Fetch::Git { location, .. } => location.as_given(),
        Fetch::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        Fetch::Local(p) => p.clone(),
        Fetch::Unsupported(kind) => format!("a {kind} source"),
    }
}

/// A buildspec kept in S3 (`arn:aws:s3:::bucket/key`, as CodeBuild allows): read it now, so the
/// build gets it inline.
async fn inline_s3_buildspec(effective: &mut serde_json::Value, region: &str) -> Result<(), String> {
    let Some(arn) = effective["source"]["buildspec"].as_str().map(str::to_string) else { return Ok(()) };
    let Some(path) = arn.strip_prefix("arn:aws:s3:::").or(arn.strip_prefix("arn:aws-cn:s3:::")) else {
        return Ok(());
    };
    let (bucket, key) = path.split_once('/').ok_or_else(|| format!("the buildspec {arn} names no object"))?;
    let config = crate::aws::sdk_config(region, None).await;
    let object =
        crate::aws::s3_client(&config).get_object().bucket(bucket).key(key).send().await.map_err(|e| {
            format!("cannot read the buildspec {arn}: {}", aws_sdk_s3::error::DisplayErrorContext(e))
        })?;
    let bytes = object.body.collect().await.map_err(|e| format!("cannot read the buildspec {arn}: {e}"))?;
    let text = String::from_utf8(bytes.into_bytes().to_vec())
        .map_err(|_| format!("the buildspec {arn} is not UTF-8"))?;
    // Inline text is told from a path by its newline.
    effective["source"]["buildspec"] =
        serde_json::json!(if text.contains('\n') { text } else { text + "\n" });
    Ok(())
}
