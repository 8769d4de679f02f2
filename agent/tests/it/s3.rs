//! Artifacts to S3 against a real server (moto_server, started by scripts/test.sh): CodeBuild's
//! key layout (R-ART-07), metadata, checksums, multipart, many files, failures.

use std::process::Command;

use crate::aws::{aws_env, block, sdk, unique};
use crate::support::{Ctx, Run};

fn s3() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk()).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn bucket() -> String {
    let name = unique("runspec-art");
    block(s3().create_bucket().bucket(&name).send()).unwrap();
    name
}

fn keys(bucket: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = block(s3().list_objects_v2().bucket(bucket).set_continuation_token(token).send()).unwrap();
        keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        match out.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    keys.sort();
    keys
}

fn object(bucket: &str, key: &str) -> Vec<u8> {
    block(async {
        let out = s3().get_object().bucket(bucket).key(key).send().await.unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

fn run(ctx: &Ctx, args: &[&str]) -> Run {
    let mut cmd: Command = ctx.command();
    aws_env(&mut cmd).args(args);
    ctx.finish(cmd.output().unwrap())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

const TREE: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist/css && echo page > dist/index.html && echo body > dist/css/site.css && echo docs > README.txt\nartifacts:\n  files:\n    - '**/*'\n  base-directory: dist\n  secondary-artifacts:\n    docs:\n      files:\n        - README.txt\n";

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn zip_to_an_s3_url_with_metadata_and_checksums() {
    let b = bucket();
    let ctx = Ctx::new(TREE);
    let run = run(&ctx, &["--artifacts", &format!("s3://{b}/builds/web")]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(keys(&b), ["builds/web/artifacts.zip", "builds/web/docs.zip"]);
    let bytes = object(&b, "builds/web/artifacts.zip");
    assert_eq!(run.build["artifacts"]["sha256sum"], sha256(&bytes));
    assert_eq!(run.build["artifacts"]["location"], format!("arn:aws:s3:::{b}/builds/web/artifacts.zip"));
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> =
        (0..z.len()).map(|i| z.by_index(i).unwrap().name().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["css/site.css", "index.html"]);
    let head = block(s3().head_object().bucket(&b).key("builds/web/artifacts.zip").send()).unwrap();
    assert_eq!(
        head.metadata().and_then(|m| m.get("codebuild-buildarn")).map(String::as_str),
        run.build["arn"].as_str()
    );
    assert_eq!(
        run.build["secondaryArtifacts"][0]["location"],
        format!("arn:aws:s3:::{b}/builds/web/docs.zip")
    );
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn project_s3_artifacts_use_codebuild_key_layout() {
    // R-ART-07: path / BUILD_ID / name; packaging NONE is a folder of objects; secondary
    // artifacts go where the project's secondaryArtifacts say.
    let (primary, docs) = (bucket(), bucket());
    let ctx = Ctx::new(TREE);
    let project = ctx.out.path().join("p.json");
    std::fs::write(
        &project,
        format!(
            r#"{{"name": "web", "artifacts": {{"type": "S3", "location": "{primary}", "path": "releases", "namespaceType": "BUILD_ID", "name": "site", "packaging": "NONE"}},
               "secondaryArtifacts": [{{"type": "S3", "location": "{docs}", "name": "docs-bundle.zip", "packaging": "ZIP", "artifactIdentifier": "docs"}}]}}"#
        ),
    )
    .unwrap();
    let run = run(&ctx, &["--project", project.to_str().unwrap()]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    let id = run.build["id"].as_str().unwrap();
    assert_eq!(
        keys(&primary),
        [format!("releases/{id}/site/css/site.css"), format!("releases/{id}/site/index.html")]
    );
    assert_eq!(keys(&docs), ["docs-bundle.zip"]);
    assert_eq!(object(&primary, &format!("releases/{id}/site/index.html")), b"page\n");
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn large_objects_use_multipart_and_verify() {
    // Over 8 MiB: a streamed multipart upload; the object's bytes and sha256 must match.
    let b = bucket();
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - head -c 20000000 /dev/urandom > big.bin\n      - head -c 3000000 /dev/urandom > big2.bin\nartifacts:\n  files: ['big*.bin']\n",
    );
    let run = run(&ctx, &["--artifacts", &format!("s3://{b}")]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    let bytes = object(&b, "artifacts.zip");
    assert!(bytes.len() > 20_000_000);
    assert_eq!(run.build["artifacts"]["sha256sum"], sha256(&bytes));
    let head = block(s3().head_object().bucket(&b).key("artifacts.zip").send()).unwrap();
    assert!(head.e_tag().unwrap_or_default().trim_matches('"').ends_with("-3"), "{:?}", head.e_tag());
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn over_a_thousand_files_as_a_folder() {
    let b = bucket();
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && for i in $(seq 1 1100); do echo $i > out/f$i.txt; done\n      - head -c 3000000 /dev/urandom > out/big.bin\nartifacts:\n  files: ['**/*']\n  base-directory: out\n",
    );
    let project = ctx.out.path().join("p.json");
    std::fs::write(
        &project,
        r#"{"name": "many", "artifacts": {"type": "S3", "packaging": "NONE", "name": "files"}}"#,
    )
    .unwrap();
    let run = run(&ctx, &["--project", project.to_str().unwrap(), "--artifacts", &format!("s3://{b}/x")]);
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    let keys = keys(&b);
    assert_eq!(keys.len(), 1101);
    assert!(keys.contains(&"x/files/f1100.txt".to_string()));
    assert_eq!(object(&b, "x/files/f77.txt"), b"77\n");
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn a_missing_bucket_fails_the_upload_loudly() {
    let ctx = Ctx::new(TREE);
    let run = run(&ctx, &["--artifacts", "s3://runspec-no-such-bucket-xyz/p"]);
    assert_eq!(run.status(), "FAILED");
    let (code, message) = run.context("UPLOAD_ARTIFACTS");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("NoSuchBucket"), "{message}");
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn uploads_survive_errors_and_dropped_connections_or_fail_loudly() {
    // 500s, dropped connections and lost responses for a share of requests: the artifact ends
    // byte-for-byte correct, or the upload fails and no object is left. Never a partial one.
    let upstream = std::env::var("RUNSPEC_TEST_MOTO_URL").unwrap().trim_start_matches("http://").to_string();
    let mut outcomes = Vec::new();
    for seed in [7u64, 1234, 99991] {
        let proxy = crate::faults::start(&upstream, seed, 15, 10, 5);
        let b = bucket();
        let ctx = Ctx::new(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - head -c 18000000 /dev/urandom > big.bin\n      - mkdir -p many && for i in $(seq 1 60); do echo $i > many/$i.txt; done\nartifacts:\n  files: ['big.bin']\n  secondary-artifacts:\n    many:\n      files: ['many/*']\n",
        );
        let project = ctx.out.path().join("p.json");
        std::fs::write(&project, r#"{"name": "f", "secondaryArtifacts": [{"type": "S3", "packaging": "NONE", "artifactIdentifier": "many", "name": "many"}]}"#).unwrap();
        let mut cmd = ctx.command();
        aws_env(&mut cmd).env("AWS_ENDPOINT_URL", &proxy.url).args([
            "--project",
            project.to_str().unwrap(),
            "--artifacts",
            &format!("s3://{b}/out"),
        ]);
        let run = ctx.finish(cmd.output().unwrap());
        let faults = *proxy.faults.lock().unwrap();
        assert!(
            faults.errors_500 + faults.dropped + faults.lost_responses > 0,
            "no fault was injected: {faults:?}"
        );
        let keys = keys(&b);
        match run.status() {
            "SUCCEEDED" => {
                let bytes = object(&b, "out/artifacts.zip");
                assert_eq!(run.build["artifacts"]["sha256sum"], sha256(&bytes), "seed {seed}");
                let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
                assert_eq!(z.by_name("big.bin").unwrap().size(), 18_000_000);
                assert_eq!(
                    keys.iter().filter(|k| k.starts_with("out/many/many/")).count(),
                    60,
                    "seed {seed}: {keys:?}"
                );
            }
            "FAILED" => {
                assert_eq!(run.context("UPLOAD_ARTIFACTS").0, "CLIENT_ERROR", "seed {seed}");
                assert!(
                    !keys.contains(&"out/artifacts.zip".to_string()) || {
                        let bytes = object(&b, "out/artifacts.zip");
                        zip::ZipArchive::new(std::io::Cursor::new(bytes)).is_ok()
                    },
                    "seed {seed}: a partial artifact was left"
                );
            }
            other => panic!("seed {seed}: {other}\n{}", run.stdout),
        }
        outcomes.push((seed, run.status().to_string(), faults));
    }
    eprintln!("{outcomes:?}");
    assert!(
        outcomes.iter().any(|(_, s, _)| s == "SUCCEEDED"),
        "retries never got an upload through: {outcomes:?}"
    );
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn an_s3_answer_that_never_comes_ends_at_the_build_timeout() {
    // The server stores every upload but never answers: the build must end at its timeout,
    // UPLOAD_ARTIFACTS included (it used to hang forever).
    let upstream = std::env::var("RUNSPEC_TEST_MOTO_URL").unwrap().trim_start_matches("http://").to_string();
    let proxy = crate::faults::start_with(&upstream, |request| {
        if request.starts_with("PUT ") { crate::faults::Fault::Hang } else { crate::faults::Fault::Forward }
    });
    let b = bucket();
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo x > a.txt\nartifacts:\n  files: [a.txt]\n",
    );
    let mut cmd = ctx.command();
    aws_env(&mut cmd).env("AWS_ENDPOINT_URL", &proxy.url).args([
        "--timeout",
        "8s",
        "--artifacts",
        &format!("s3://{b}/out"),
    ]);
    let t = std::time::Instant::now();
    let run = ctx.finish(cmd.output().unwrap());
    assert!(t.elapsed() < std::time::Duration::from_secs(200), "a hang: {:?}", t.elapsed());
    assert_eq!(run.status(), "TIMED_OUT", "{}", run.stdout);
    assert_eq!(
        run.context("UPLOAD_ARTIFACTS"),
        ("BUILD_TIMED_OUT".to_string(), "Build has timed out".to_string())
    );
    assert!(proxy.requests.lock().unwrap().iter().any(|r| r.starts_with("PUT ")), "the upload was tried");
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn a_bad_digest_on_one_part_names_the_s3_error_and_leaves_no_upload() {
    let upstream = std::env::var("RUNSPEC_TEST_MOTO_URL").unwrap().trim_start_matches("http://").to_string();
    let proxy = crate::faults::start_with(&upstream, |request| {
        let part_2 = request.split(['?', '&']).any(|q| q == "partNumber=2");
        if request.starts_with("PUT ") && part_2 {
            crate::faults::Fault::BadDigest
        } else {
            crate::faults::Fault::Forward
        }
    });
    let b = bucket();
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - head -c 30000000 /dev/urandom > big.bin\nartifacts:\n  files: [big.bin]\n",
    );
    let mut cmd = ctx.command();
    aws_env(&mut cmd).env("AWS_ENDPOINT_URL", &proxy.url).args(["--artifacts", &format!("s3://{b}/out")]);
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.status(), "FAILED", "{}", run.stdout);
    let (code, message) = run.context("UPLOAD_ARTIFACTS");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("BadDigest"), "{message}");
    assert!(!message.contains("the upload stopped"), "{message}");
    assert!(!keys(&b).contains(&"out/artifacts.zip".to_string()));
    let uploads = block(s3().list_multipart_uploads().bucket(&b).send()).unwrap();
    assert!(uploads.uploads().is_empty(), "an upload was left open: {:?}", uploads.uploads());
    let requests = proxy.requests.lock().unwrap();
    assert!(requests.iter().any(|r| r.starts_with("DELETE ") && r.contains("uploadId=")), "{requests:?}");
}
