//! Parameter Store and Secrets Manager against a real server (moto_server, started by
//! scripts/test.sh): fetching, masking (R-ENV-08), failures (R-ENV-06/07), R-ENV-09.

use std::process::Command;

use crate::support::Ctx;

const NEEDS_MOTO: &str = "needs moto_server: run scripts/test.sh";

/// Points `cmd` at moto when the test run has it (for tests that work with or without S3).
pub fn aws_env_if_available(cmd: &mut Command) {
    if std::env::var("RUNSPEC_TEST_MOTO_URL").is_ok() {
        aws_env(cmd);
    }
}

fn moto_url() -> String {
    std::env::var("RUNSPEC_TEST_MOTO_URL").unwrap_or_else(|_| panic!("{NEEDS_MOTO}"))
}

/// Points a command (runspec, or the SDK clients below) at the moto server.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
}

/// SDK configuration for the test's own clients (built without I/O, so it can be made anywhere).
pub fn sdk() -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "runspec-tests");
    aws_config::SdkConfig::builder()
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A name no other test uses on the shared server.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn put_parameter(name: &str, value: &str) {
    let client = aws_sdk_ssm::Client::new(&sdk());
    block(
        client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send(),
    )
    .unwrap();
}

fn put_secret(name: &str, value: &str) {
    let client = aws_sdk_secretsmanager::Client::new(&sdk());
    block(client.create_secret().name(name).secret_string(value).send()).unwrap();
}

fn run(ctx: &Ctx, args: &[&str]) -> crate::support::Run {
    let mut cmd = ctx.command();
    aws_env(&mut cmd).args(args);
    ctx.finish(cmd.output().unwrap())
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn parameter_and_secret_values_reach_the_build_and_never_the_log() {
    let param = format!("/{}/db-password", unique("runspec"));
    let password = "Pa55w0rd-from-ssm";
    put_parameter(&param, password);
    let secret = unique("ci-token");
    put_secret(&secret, r#"{"token": "tok-3f9a8b7c6d5e", "user": "deployer"}"#);
    let ctx = Ctx::new(&format!(
        "version: 0.2\nenv:\n  shell: bash\n  parameter-store:\n    DB_PASSWORD: {param}\n  secrets-manager:\n    TOKEN: {secret}:token\n    WHOLE: {secret}\n  exported-variables:\n    - TOKEN\n    - COPY\nphases:\n  build:\n    commands:\n      - echo \"pw=$DB_PASSWORD\"\n      - echo {password}\n      - printf '%s' \"$TOKEN\" | base64\n      - printf 'prefix:%s' \"$TOKEN\" | base64\n      - python3 -c 'import os,urllib.parse; print(urllib.parse.quote(os.environ[\"DB_PASSWORD\"] + \"/x y\"))' || true\n      - printf '%s' \"${{TOKEN:0:5}}\"; sleep 0.3; printf '%s\\n' \"${{TOKEN:5}}\"\n      - test \"$TOKEN\" = tok-3f9a8b7c6d5e && test \"$(echo \"$WHOLE\" | tr -d ' ')\" = '{{\"token\":\"tok-3f9a8b7c6d5e\",\"user\":\"deployer\"}}' && echo values-ok\n      - COPY=$DB_PASSWORD\n      - exit 4 # fails with {password} in the message\n"
    ));
    let run = run(&ctx, &[]);
    assert!(
        run.has_line("> Decrypting parameter store environment variables"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.output().contains(&"values-ok".to_string()), "{}", run.stdout);
    for leaked in [password, "tok-3f9a8b7c6d5e", "dG9rLTNmOWE4YjdjNmQ1ZQ", "UGE1NXcwcmQtZnJvbS1zc20"] {
        assert!(!run.stdout.contains(leaked), "`{leaked}` leaked into the log:\n{}", run.stdout);
    }
    assert!(run.has_line("pw=***"), "{}", run.stdout);
    assert!(run.has_line("> Running command echo ***"), "R-ENV-08: the echo is masked too");
    assert!(run.has_line("***"), "split across chunks: {}", run.stdout);
    // R-ENV-09: no secret in the result, secret-backed variables are not exported.
    let result = run.build.to_string();
    assert!(!result.contains(password) && !result.contains("tok-3f9a8b7c6d5e"), "{result}");
    assert_eq!(run.exported(), [("COPY".to_string(), "***".to_string())]);
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn a_missing_parameter_fails_download_source_before_anything_runs() {
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  parameter-store:\n    X: /runspec/does-not-exist\nphases:\n  install:\n    commands: [touch ran]\n",
    );
    let run = run(&ctx, &["--mount-source"]);
    assert_eq!(run.phases(), ["DOWNLOAD_SOURCE=FAILED"]);
    assert_eq!(
        run.context("DOWNLOAD_SOURCE"),
        (
            "Decrypted Variables Error".to_string(),
            "parameter does not exist: /runspec/does-not-exist".to_string()
        )
    );
    assert!(!ctx.src.path().join("ran").exists());

    let ctx = Ctx::new("version: 0.2\nenv:\n  secrets-manager:\n    X: runspec-no-such-secret:key\n");
    let run = self::run(&ctx, &[]);
    assert_eq!(run.context("DOWNLOAD_SOURCE").1, "secret does not exist: runspec-no-such-secret");
}

#[test]
fn an_unreachable_store_is_named_with_the_variable_the_parameter_and_the_endpoint() {
    // Issue 21: the context used to be the SDK's bare "dispatch failure: io error: …".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  parameter-store:\n    DB_PASSWORD: /prod/db\nphases:\n  build:\n    commands: [touch ran]\n",
    );
    let mut cmd = ctx.command();
    cmd.env("AWS_ENDPOINT_URL", &url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE");
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.phases(), ["DOWNLOAD_SOURCE=FAILED"]);
    let (code, message) = run.context("DOWNLOAD_SOURCE");
    assert_eq!(code, "Decrypted Variables Error");
    let expected = format!(
        "cannot read parameter /prod/db for variable DB_PASSWORD from AWS Systems Manager Parameter Store at {url}: "
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(!message.contains('\n') && message.len() > expected.len(), "{message}");
    assert!(run.stdout.contains(&expected), "the log says it too:\n{}", run.stdout);
    assert!(!ctx.src.path().join("ran").exists());
}

#[test]
fn a_failed_ecr_auto_login_is_a_warning_in_the_build_log() {
    // Issue 21: it went to stderr only, away from the `docker push` failure it explains.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1\n",
    );
    let mut cmd = ctx.command();
    cmd.env("AWS_ENDPOINT_URL", &url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE");
    let run = ctx.finish(cmd.output().unwrap());
    assert_eq!(run.build["buildStatus"], "SUCCEEDED", "{}", run.stdout);
    assert!(
        run.stdout.lines().any(|l| l.contains("Warning: no ECR login for the build (")),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn project_variables_of_type_parameter_store_and_secrets_manager() {
    let param = format!("/{}/stage", unique("runspec"));
    put_parameter(&param, "production-stage");
    let secret = unique("s");
    put_secret(&secret, r#"{"k": "secret-from-project"}"#);
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - test \"$STAGE\" = production-stage && test \"$K\" = secret-from-project && echo ok\n",
    );
    let project = ctx.out.path().join("p.json");
    std::fs::write(
        &project,
        format!(r#"{{"name": "p", "environment": {{"environmentVariables": [{{"name": "STAGE", "value": "{param}", "type": "PARAMETER_STORE"}}, {{"name": "K", "value": "{secret}:k", "type": "SECRETS_MANAGER"}}]}}}}"#),
    )
    .unwrap();
    let run = run(&ctx, &["--project", project.to_str().unwrap()]);
    assert_eq!(run.output(), ["ok"], "{}{}", run.stdout, run.stderr);
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn aws_credentials_are_passed_only_on_request_and_masked() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo key=${AWS_ACCESS_KEY_ID-none}\n      - echo region=$AWS_REGION\n",
    );
    let without = run(&ctx, &[]);
    assert_eq!(without.output()[0], "key=none");
    let mut cmd = ctx.command();
    aws_env(&mut cmd)
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY123")
        .env("AWS_REGION", "eu-west-3")
        .arg("--aws-credentials");
    let with = ctx.finish(cmd.output().unwrap());
    assert_eq!(with.output(), ["key=***", "region=eu-west-3"], "{}", with.stderr);
}
