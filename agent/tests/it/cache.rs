//! §11 cache: keys, fallback prefixes, action, in a local directory and in S3 (moto).

use crate::support::{Ctx, Run};

const SPEC: &str = "version: 0.2\nphases:\n  install:\n    commands:\n      - if [ -f deps/lib.txt ]; then echo \"restored $(cat deps/lib.txt)\"; else mkdir -p deps && echo \"$LIB\" > deps/lib.txt && echo installed; fi\ncache:\n  key: deps-$(codebuild-hash-files package-lock.json)\n  fallback-keys:\n    - deps-\n  paths:\n    - 'deps/**/*'\n";

fn run(ctx: &Ctx, cache: &str, lib: &str, extra: &[&str]) -> Run {
    let mut cmd = ctx.command();
    cmd.args(["--cache", cache]).args(extra).env("LIB", lib);
    crate::aws::aws_env_if_available(&mut cmd);
    ctx.finish(cmd.output().unwrap())
}

fn install_line(run: &Run) -> String {
    run.output()
        .into_iter()
        .find(|l| l.starts_with("restored") || l == "installed")
        .unwrap_or_else(|| run.stdout.clone())
}

fn exercise(cache: &str) {
    // R-CACHE-03: exact key, then fallback by prefix; a keyed cache is never updated.
    let ctx = Ctx::new(SPEC);
    ctx.write("package-lock.json", "{\"v\": 1}");
    assert_eq!(install_line(&run(&ctx, cache, "v1", &[])), "installed");
    let second = run(&ctx, cache, "v2", &[]);
    assert_eq!(install_line(&second), "restored v1", "{}", second.stdout);
    assert!(second.stdout.contains("already exists; not updating it"));
    ctx.write("package-lock.json", "{\"v\": 2}");
    let fallback = run(&ctx, cache, "v3", &[]);
    assert_eq!(install_line(&fallback), "restored v1", "fallback prefix: {}", fallback.stdout);
    assert!(
        fallback.stdout.contains("Saved 1 file(s) to cache deps-"),
        "a new key is saved: {}",
        fallback.stdout
    );
}

#[test]
fn local_cache_keys_and_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    exercise(dir.path().to_str().unwrap());
}

#[test]
fn the_key_is_expanded_once_so_a_build_that_rewrites_its_lock_file_saves_under_the_key_it_asked_for() {
    // Issue 21: the key was expanded again at save, after `npm install` rewrote the lock file,
    // so every build saved under a key no later build asked for and every build missed.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let spec = "version: 0.2\nphases:\n  install:\n    commands:\n      - if [ -f deps/lib.txt ]; then echo \"restored $(cat deps/lib.txt)\"; else mkdir -p deps && echo \"$LIB\" > deps/lib.txt && echo installed; fi\n      - echo rewritten-$LIB >> package-lock.json\ncache:\n  key: deps-$(codebuild-hash-files package-lock.json)\n  paths:\n    - 'deps/**/*'\n";
    for (lib, expected) in [("v1", "installed"), ("v2", "restored v1")] {
        let ctx = Ctx::new(spec);
        ctx.write("package-lock.json", "{\"v\": 1}");
        let run = run(&ctx, cache, lib, &[]);
        assert_eq!(install_line(&run), expected, "{}", run.stdout);
    }
    let saved: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(saved.len(), 1, "one key, restored and saved: {saved:?}");
}

#[test]
#[ignore = "needs moto_server: run scripts/test.sh"]
fn s3_cache_keys_and_fallbacks() {
    let bucket = crate::aws::unique("runspec-cache");
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&crate::aws::sdk()).force_path_style(true).build(),
    );
    crate::aws::block(client.create_bucket().bucket(&bucket).send()).unwrap();
    exercise(&format!("s3://{bucket}/caches/app"));
}

#[test]
fn unkeyed_cache_is_replaced_and_actions_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let spec = |action: &str| {
        format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - cat out/v.txt 2>/dev/null || echo none\n      - mkdir -p out && echo \"$LIB\" > out/v.txt\ncache:\n  paths: ['out/**/*']\n{action}"
        )
    };
    let ctx = Ctx::new(&spec(""));
    assert_eq!(run(&ctx, cache, "a", &[]).output()[0], "none");
    assert_eq!(run(&ctx, cache, "b", &[]).output()[0], "a");
    assert_eq!(run(&ctx, cache, "c", &[]).output()[0], "b", "the unkeyed cache is replaced each build");
    let restore_only = Ctx::new(&spec("  action: restore\n"));
    assert_eq!(run(&restore_only, cache, "d", &[]).output()[0], "c");
    assert_eq!(run(&restore_only, cache, "e", &[]).output()[0], "c", "action: restore never saves");
    let save_only = Ctx::new(&spec("  action: save\n"));
    assert_eq!(run(&save_only, cache, "f", &[]).output()[0], "none", "action: save never restores");
    assert_eq!(run(&restore_only, cache, "g", &[]).output()[0], "f");
}

#[test]
fn cache_log_lines() {
    // R-CACHE-04 and the NO_CACHE case.
    let ctx = Ctx::new("version: 0.2\ncache:\n  key: k\n");
    let dir = tempfile::tempdir().unwrap();
    assert!(
        run(&ctx, dir.path().to_str().unwrap(), "", &[])
            .has_line("> Skip cache due to: no paths specified to be cached")
    );
    let run = ctx.run();
    assert!(run.has_line("> Skip cache due to: the project has no cache configured (NO_CACHE)"));
}

#[test]
fn project_local_cache_lives_per_project() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat keep/x 2>/dev/null || (mkdir -p keep && echo kept > keep/x && echo fresh)\ncache:\n  paths: ['keep/**/*']\n",
    );
    let project = ctx.out.path().join("p.json");
    std::fs::write(
        &project,
        r#"{"name": "cached", "cache": {"type": "LOCAL", "modes": ["LOCAL_CUSTOM_CACHE"]}}"#,
    )
    .unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let go = || {
        let mut cmd = ctx.command();
        cmd.args(["--project", project.to_str().unwrap()]).env("RUNSPEC_CACHE_DIR", cache_dir.path());
        ctx.finish(cmd.output().unwrap())
    };
    assert_eq!(go().output(), ["fresh"]);
    assert_eq!(go().output(), ["kept"]);
    assert!(cache_dir.path().join("cached/default.tar.gz").exists());
}

#[test]
fn hash_files_is_stable_and_content_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.lock"), "1").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b.lock"), "2").unwrap();
    let hash = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runspec"))
            .args(["hash-files", "**/*.lock"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let first = hash();
    assert_eq!(first.len(), 64);
    assert_eq!(hash(), first);
    std::fs::write(dir.path().join("sub/b.lock"), "3").unwrap();
    assert_ne!(hash(), first);
}

/// The number in a `LOCAL_SOURCE_CACHE: fetched N objects …` line of a build log.
fn fetched_objects(log: &[String]) -> u64 {
    let line = log.iter().find(|l| l.contains("LOCAL_SOURCE_CACHE: fetched ")).unwrap_or_else(|| {
        panic!("no source cache line in:\n{}", log.join("\n"));
    });
    let n = line.split("fetched ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
    n.parse().unwrap()
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn serve_keeps_a_projects_local_caches() {
    use serde_json::json;
    use std::time::Duration;
    let s = crate::serve::Server::start(&[]);
    let root = s.state.parent().unwrap().to_path_buf();
    let repo = root.join("repo");
    let daemon = crate::support::GitDaemon::start(&root);
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("git {args}"))
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git("init -q -b main");
    git("config user.email t@example.com");
    git("config user.name t");
    std::fs::write(
        repo.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat keep/x 2>/dev/null || (mkdir -p keep && echo kept > keep/x && echo fresh)\ncache:\n  paths: ['keep/**/*']\n",
    )
    .unwrap();
    for i in 0..200 {
        std::fs::write(repo.join(format!("f{i}")), format!("{i}-{i}\n")).unwrap();
    }
    git("add -A");
    git("commit -qm one");
    // A name of its own: the server's cache directory outlives this run.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("cached-{nanos}");
    let source = json!({"type": "GITHUB", "location": daemon.url("repo")}).to_string();
    let cache = |modes: &[&str]| json!({"type": "LOCAL", "modes": modes}).to_string();
    s.create_project_from(
        &name,
        &source,
        &["--cache", &cache(&["LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE"])],
    );
    let build = || {
        let id = s.aws(&["codebuild", "start-build", "--project-name", &name])["build"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let b = s.wait(&id, Duration::from_secs(120));
        assert_eq!(b["buildStatus"], "SUCCEEDED", "{b}");
        s.log(&b)
    };
    let has = |log: &[String], line: &str| log.iter().any(|l| l == line);
    let first = build();
    assert!(has(&first, "fresh"), "{first:?}");
    assert!(fetched_objects(&first) > 200, "the first clone fetches everything");

    std::fs::write(repo.join("f1"), "changed\n").unwrap();
    git("commit -qam two");
    let second = build();
    assert!(has(&second, "kept"), "LOCAL_CUSTOM_CACHE kept cache.paths: {second:?}");
    assert!(fetched_objects(&second) <= 3, "only the new commit, its tree and blob: {second:?}");

    // Without LOCAL_CUSTOM_CACHE, the buildspec's paths are not cached (as on CodeBuild).
    s.aws(&["codebuild", "update-project", "--name", &name, "--cache", &cache(&["LOCAL_SOURCE_CACHE"])]);
    let third = build();
    assert!(has(&third, "fresh"), "{third:?}");
    assert!(
        third
            .iter()
            .any(|l| l
                .ends_with("Skip cache due to: the project's LOCAL cache does not list LOCAL_CUSTOM_CACHE")),
        "{third:?}"
    );
    assert_eq!(fetched_objects(&third), 0, "nothing new upstream");
}
