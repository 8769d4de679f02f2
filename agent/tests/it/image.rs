//! Pushing images to ECR on real parts: the Docker engine scripts/test.sh starts, moto_server
//! for the ECR API, and Debian's docker-registry standing in for the ECR registry, with
//! htpasswd auth whose password is the token moto hands out (`RUNSPEC_ECR_REGISTRY` points the
//! pushes at it). A push only gets in with the token from the ECR API.

use std::process::{Command, Output};

use super::aws::aws_env;
use crate::support::Ctx;

const NEEDS: &str = "needs docker, moto and the registries: run scripts/test.sh";

fn registry() -> String {
    std::env::var("RUNSPEC_TEST_ECR_REGISTRY").expect(NEEDS)
}

fn image() -> String {
    std::env::var("RUNSPEC_TEST_DOCKER_IMAGE").expect(NEEDS)
}

/// A repository name no other test run has used (the registry and moto outlive a test).
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn push_env(cmd: &mut Command) -> &mut Command {
    aws_env(cmd).env("RUNSPEC_ECR_REGISTRY", registry())
}

fn image_push(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runspec"));
    cmd.args(["image", "push"]).args(args).current_dir(dir);
    push_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The digest the registry serves for `repo:tag` (with the registry's password).
fn registry_digest(repo: &str, tag: &str) -> String {
    let out = Command::new("curl")
        .args(["-fsSI", "-u", "AWS:123456789012-auth-token", "-H"])
        .arg("Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
        .arg(format!("http://{}/v2/{repo}/manifests/{tag}", registry()))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("docker-content-digest: "))
        .unwrap_or_else(|| panic!("no digest for {repo}:{tag}: {head}"))
        .trim()
        .to_string()
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn a_buildspec_pushes_in_process_with_digests_and_imagedefinitions() {
    // The ECS workshop's post_build, without `aws ecr get-login-password | docker login`: the
    // push runs in-process with variables from the build's shell, the digests land in the result
    // JSON, imagedefinitions.json in the artifact.
    let repo = unique("web");
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}");
    let ctx = Ctx::new(&format!(
        "version: 0.2
env:
  variables:
    REPOSITORY_URI: {uri}
phases:
  build:
    commands:
      - IMAGE_TAG=build-1
  post_build:
    commands:
      - runspec image push {image} $REPOSITORY_URI:$IMAGE_TAG \"${{REPOSITORY_URI}}:latest\" --create-repository --imagedefinitions web
      - cat imagedefinitions.json
artifacts:
  files: imagedefinitions.json
",
        image = image()
    ));
    let mut cmd = ctx.command();
    push_env(&mut cmd).args(["--artifacts"]).arg(ctx.out.path().join("artifacts"));
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    let digest = registry_digest(&repo, "build-1");
    assert_eq!(digest, registry_digest(&repo, "latest"));
    assert!(run.has_line(&format!("Pushing {uri}:build-1")), "{}", run.stdout);
    // The registry may have the layer from an earlier run (mounted, not uploaded): 1 in all.
    assert!(
        run.has_line(&format!("Pushed {uri}:build-1 ({digest}): 1 layer(s) uploaded, 0 already there"))
            || run
                .has_line(&format!("Pushed {uri}:build-1 ({digest}): 0 layer(s) uploaded, 1 already there")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("Pushed {uri}:latest ({digest}): 0 layer(s) uploaded, 1 already there"))
    );
    assert!(
        run.has_line(&format!("[{{\"imageUri\":\"{uri}:build-1\",\"name\":\"web\"}}]")),
        "{}",
        run.stdout
    );
    // Only these lines: progress ticks never reach the log.
    assert_eq!(run.output().len(), 5, "{:?}", run.output());
    let pushed = &run.build["runspecPushedImages"];
    assert_eq!(pushed[0]["uri"], format!("{uri}:build-1"));
    assert_eq!(pushed[0]["digest"], digest);
    assert_eq!(pushed[0]["source"], image());
    assert_eq!(pushed[1]["uri"], format!("{uri}:latest"));
    assert_eq!(run.zip_names("artifacts.zip"), vec!["imagedefinitions.json"]);
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn push_failures_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let repo = unique("api");
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}:v1");
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // The repository must exist unless creation is asked for.
    let out = image_push(dir.path(), &[&image(), &uri], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "ECR repository `{repo}` does not exist in 123456789012 (us-east-1); create it, or pass --create-repository"
        )),
        "{}",
        stderr(&out)
    );

    // A local image that is not there.
    let out = image_push(dir.path(), &["runspec-test:absent", &uri], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("image `runspec-test:absent` is not in the local Docker engine"),
        "{}",
        stderr(&out)
    );

    // Not an ECR URI: a usage error, nothing tried.
    let out = image_push(dir.path(), &[&image(), "docker.io/library/web:1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`docker.io` is not an ECR registry"), "{}", stderr(&out));

    // A token for another account (credentials from an assumed role in 111111111111): the
    // registry refuses it, and the error says where to look.
    let (key, secret, session) = assume_role("arn:aws:iam::111111111111:role/pusher");
    let other = format!("111111111111.dkr.ecr.us-east-1.amazonaws.com/{repo}:v1");
    let out = image_push(
        dir.path(),
        &[&image(), &other, "--create-repository"],
        &[("AWS_ACCESS_KEY_ID", &key), ("AWS_SECRET_ACCESS_KEY", &secret), ("AWS_SESSION_TOKEN", &session)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused the ECR token"), "{}", stderr(&out));

    // The right account: pushed, digest on stdout as JSON, deploy files on request.
    let out =
        image_push(dir.path(), &[&image(), &uri, "--create-repository", "--image-detail", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["digest"], registry_digest(&repo, "v1"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("imageDetail.json")).unwrap(),
        format!("{{\"ImageURI\":\"{uri}\"}}\n")
    );
}

/// Temporary credentials in another account, from moto's STS.
fn assume_role(arn: &str) -> (String, String, String) {
    let moto = std::env::var("RUNSPEC_TEST_MOTO_URL").expect(NEEDS);
    let out = Command::new("curl")
        .args(["-fsS", "-X", "POST", &format!("{moto}/"), "-H"])
        .arg("Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0")
        .arg("-d")
        .arg(format!("Action=AssumeRole&Version=2011-06-15&RoleArn={arn}&RoleSessionName=tests"))
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        let start = xml.find(&format!("<{name}>")).unwrap_or_else(|| panic!("{xml}")) + name.len() + 2;
        let end = xml[start..].find('<').unwrap() + start;
        xml[start..end].to_string()
    };
    (field("AccessKeyId"), field("SecretAccessKey"), field("SessionToken"))
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn a_privileged_build_runs_docker_build_and_pushes_with_the_ecr_login() {
    // `--docker host` hands the build the agent's engine (and says so in the log); the build's
    // Docker config carries an ECR token (the buildspec names an ECR repository, so `--ecr-login auto` kicks in), so
    // `docker push` needs no `docker login`, and the token never shows in the log.
    let cli_image = std::env::var("RUNSPEC_TEST_DOCKER_CLI_IMAGE").expect(NEEDS);
    let repo = unique("built");
    let ctx = Ctx::new(&format!(
        "version: 0.2
env:
  variables:
    REPOSITORY_URI: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}
phases:
  build:
    commands:
      - printf 'FROM {base}\\nRUN echo built-in-build > /built.txt\\n' > Dockerfile
      - docker build -q --network none -t {repo}:v1 . > /dev/null
      - docker run --rm --network none {repo}:v1 cat /built.txt
      - docker tag {repo}:v1 $REGISTRY/{repo}:v1
      - docker push -q $REGISTRY/{repo}:v1
      - cat $DOCKER_CONFIG/config.json
",
        base = image()
    ));
    let mut cmd = ctx.command();
    push_env(&mut cmd).args([
        "--image",
        &cli_image,
        "--privileged",
        "--docker",
        "host",
        "--env",
        &format!("REGISTRY={}", registry()),
    ]);
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.has_line("> Docker: the build uses the host's Docker engine (--docker host): bind mounts name the host's paths and `localhost` is the host's, not the build's"),
        "{}",
        run.stdout
    );
    assert!(run.has_line("built-in-build"), "{}", run.stdout);
    // What the build pushed is in the registry.
    assert!(registry_digest(&repo, "v1").starts_with("sha256:"));
    // The Docker config has the login for the registry, with the token masked in the log.
    assert!(run.stdout.contains(&format!("\"{}\"", registry())), "{}", run.stdout);
    assert!(run.stdout.contains("\"auth\": \"***\""), "{}", run.stdout);
    assert!(!run.stdout.contains("123456789012-auth-token"));
    assert_eq!(run.build["environment"]["privilegedMode"], true);

    // Without privileged mode the build has no engine: docker fails, the build says so.
    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - docker version\n");
    let mut cmd = ctx.command();
    cmd.args(["--image", &cli_image, "--ecr-login", "never"]);
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.status(), "FAILED", "{}", run.stdout);
}

#[test]
#[ignore = "needs docker, moto and the registries: run scripts/test.sh"]
fn a_build_image_in_ecr_is_pulled_with_an_ecr_token() {
    let dir = tempfile::tempdir().unwrap();
    let repo = unique("buildimage");
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}:1");
    let out = image_push(dir.path(), &[&image(), &uri, "--create-repository"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Only the registry has it now.
    let pushed_as = format!("{}/{repo}:1", registry());
    let rmi = Command::new("docker").args(["rmi", &pushed_as]).output().unwrap();
    assert!(rmi.status.success(), "{}", String::from_utf8_lossy(&rmi.stderr));

    let ctx = Ctx::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"in $IMAGE_VAR\"\n");
    let mut cmd = ctx.command();
    push_env(&mut cmd).args(["--image", &uri]);
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.status(), "SUCCEEDED", "{}\n{}", run.stdout, run.stderr);
    assert!(run.has_line("in from-image"), "{}", run.stdout);
    let cleanup = Command::new("docker").args(["rmi", &uri, &pushed_as]).output().unwrap();
    assert!(cleanup.status.success(), "{}", String::from_utf8_lossy(&cleanup.stderr));

    // With a token the registry refuses, the pull error names the image and the registry's answer.
    let (key, secret, session) = assume_role("arn:aws:iam::111111111111:role/puller");
    let mut cmd = ctx.command();
    push_env(&mut cmd)
        .args(["--image", &uri])
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", session);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot pull image `{uri}`")), "{stderr}");
    assert!(stderr.contains("refused the ECR token"), "{stderr}");
}
