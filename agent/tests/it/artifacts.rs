//! §10 artifacts to a local directory.

use std::fs;

use crate::support::{Ctx, assert_file};

fn with_tree(artifacts: &str) -> Ctx {
    let ctx = Ctx::new(&format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out/sub && echo a > out/a.txt && echo b > out/sub/b.txt && echo c > top.txt\n{artifacts}"
    ));
    ctx.write("docs/readme.md", "docs\n").write("docs/private/key.txt", "secret\n").write(".hidden", "h\n");
    ctx
}

#[test]
fn patterns_select_like_codebuild() {
    // R-ART-01, R-ART-02, R-ART-08: DIR/artifacts.zip by default.
    let run = with_tree("artifacts:\n  files:\n    - 'out/*'\n    - top.txt\n").run_artifacts(&[]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert_eq!(run.zip_names("artifacts.zip"), ["out/a.txt", "top.txt"], "dir/* is not recursive");
    assert!(run.has_line("> Found 2 file(s)"));

    let run = with_tree("artifacts:\n  files:\n    - '**/*'\n  exclude-paths:\n    - 'docs/private/**/*'\n    - buildspec.yml\n").run_artifacts(&[]);
    assert_eq!(
        run.zip_names("artifacts.zip"),
        [".hidden", "docs/readme.md", "out/a.txt", "out/sub/b.txt", "top.txt"]
    );
}

#[test]
fn base_directory_and_discard_paths() {
    // R-ART-03: base-directory is stripped; discard-paths keeps the file name only.
    let run = with_tree("artifacts:\n  files:\n    - '**/*'\n  base-directory: out\n").run_artifacts(&[]);
    assert_eq!(run.zip_names("artifacts.zip"), ["a.txt", "sub/b.txt"]);
    let run = with_tree("artifacts:\n  files:\n    - '**/*'\n  base-directory: out\n  discard-paths: yes\n")
        .run_artifacts(&[]);
    assert_eq!(run.zip_names("artifacts.zip"), ["a.txt", "b.txt"]);
}

#[test]
fn base_directory_glob_and_variables() {
    // R-ART-03 `'my-build*'` matching several directories; env vars expanded (multi-source sample).
    let ctx = Ctx::new(
        "version: 0.2\nenv:\n  variables:\n    OUT: out\nphases:\n  build:\n    commands:\n      - mkdir -p my-build1 my-build2/my-subdirectory && echo 1 > my-build1/my-file-1.txt && echo 3 > my-build2/my-subdirectory/my-file-3.txt\nartifacts:\n  files:\n    - '**/*'\n  base-directory: 'my-build*'\n  discard-paths: yes\n",
    );
    let run = ctx.run_artifacts(&[]);
    assert_eq!(run.zip_names("artifacts.zip"), ["my-file-1.txt", "my-file-3.txt"]);
    let run = with_tree("env:\n  variables:\n    DIR: out\nartifacts:\n  files:\n    - '*'\n  base-directory: $CODEBUILD_SRC_DIR/$DIR\n").run_artifacts(&[]);
    assert_eq!(run.zip_names("artifacts.zip"), ["a.txt"], "{}", run.stdout);
}

#[test]
fn paths_are_relative_to_the_source_not_the_cwd() {
    // R-ART-01 / 0.1 rule 6: a `cd` in the build does not move the artifact root.
    let run =
        with_tree("  post_build:\n    commands:\n      - cd out\nartifacts:\n  files:\n    - top.txt\n")
            .run_artifacts(&[]);
    assert_eq!(run.zip_names("artifacts.zip"), ["top.txt"], "{}", run.stdout);
}

#[test]
fn unmatched_entries_are_skipped_and_no_match_fails() {
    // R-ART-05: "Skipping invalid file path"; nothing at all → CLIENT_ERROR, build FAILED.
    let run = with_tree("artifacts:\n  files:\n    - top.txt\n    - nope/*\n").run_artifacts(&[]);
    assert!(run.has_line("> Skipping invalid file path nope/*"));
    assert_eq!(run.status(), "SUCCEEDED");
    let run = with_tree("artifacts:\n  files:\n    - nope/*\n").run_artifacts(&[]);
    assert_eq!(
        run.context("UPLOAD_ARTIFACTS"),
        ("CLIENT_ERROR".to_string(), "no matching artifact paths found".to_string())
    );
    assert_eq!(run.status(), "FAILED");
    assert_eq!(run.code, 1);
}

#[test]
fn secondary_artifacts_and_missing_primary() {
    // R-ART-06 (no primary files → CLIENT_ERROR at UPLOAD_ARTIFACTS), secondary artifact naming.
    let run = with_tree("artifacts:\n  files:\n    - top.txt\n  secondary-artifacts:\n    docs:\n      files:\n        - '**/*'\n      base-directory: docs\n").run_artifacts(&[]);
    assert_eq!(run.zip_names("docs.zip"), ["private/key.txt", "readme.md"]);
    assert_eq!(run.build["secondaryArtifacts"][0]["artifactIdentifier"], "docs");
    assert!(run.has_line("> Preparing to copy secondary artifacts"));

    let run = with_tree("artifacts:\n  secondary-artifacts:\n    docs:\n      files:\n        - '**/*'\n")
        .run_artifacts(&[]);
    assert_eq!(run.phases()[3], "BUILD=SUCCEEDED", "the phases still run");
    assert_eq!(run.context("UPLOAD_ARTIFACTS").1, "no definition for primary artifacts in buildspec");
}

#[test]
fn checksums_in_the_result_match_the_zip() {
    // R-ART-07: sha256 and md5 of the ZIP.
    let run = with_tree("artifacts:\n  files:\n    - top.txt\n").run_artifacts(&[]);
    let zip = run.out.join("artifacts.zip");
    let bytes = fs::read(&zip).unwrap();
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(run.build["artifacts"]["sha256sum"], sha);
    assert_eq!(
        run.build["artifacts"]["location"],
        format!("file://{}", zip.canonicalize().unwrap().display())
    );
    assert_eq!(run.build["artifacts"]["md5sum"].as_str().map(str::len), Some(32));
}

#[test]
fn project_packaging_none_and_name_override() {
    // R-ART-07: packaging comes from the project; `name` is used with overrideArtifactName and
    // evaluated by the shell.
    let ctx = with_tree(
        "artifacts:\n  files:\n    - 'out/**/*'\n  name: build-$CODEBUILD_BUILD_NUMBER-$(echo x)\n",
    );
    let project = ctx.out.path().join("p.json");
    fs::write(&project, r#"{"name": "pkg", "artifacts": {"type": "S3", "location": "bucket", "packaging": "NONE", "overrideArtifactName": true}}"#).unwrap();
    let run = ctx.run_artifacts(&["--project", project.to_str().unwrap()]);
    assert_eq!(run.status(), "SUCCEEDED", "{}{}", run.stdout, run.stderr);
    assert_file(&run.out.join("build-1-x/out/sub/b.txt"));
    assert!(run.build["artifacts"]["sha256sum"].is_null(), "no checksum for a folder");
}

#[test]
fn symlinks_never_leak_outside_the_source() {
    // §10 + security: a link to a file outside the source is skipped, with or without
    // enable-symlinks; an internal link is kept as a link with enable-symlinks.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s3cret").unwrap();
    for (enable, expect_link) in [("no", false), ("yes", true)] {
        let ctx = Ctx::new(&format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - ln -s {} leak && ln -s target.txt inner\nartifacts:\n  files:\n    - '**/*'\n  exclude-paths: [buildspec.yml]\n  enable-symlinks: {enable}\n",
            outside.path().join("secret").display()
        ));
        ctx.write("target.txt", "t");
        let run = ctx.run_artifacts(&[]);
        assert_eq!(run.zip_names("artifacts.zip"), ["inner", "target.txt"], "{}", run.stdout);
        assert!(
            run.stdout.contains("Warning: Skipping leak: symbolic link points outside the source directory")
        );
        let mut z = zip::ZipArchive::new(fs::File::open(run.out.join("artifacts.zip")).unwrap()).unwrap();
        assert_eq!(z.by_name("inner").unwrap().is_symlink(), expect_link, "enable-symlinks: {enable}");
    }
}

#[test]
fn artifacts_without_an_output_directory_are_only_listed() {
    let run = with_tree("artifacts:\n  files:\n    - top.txt\n").run();
    assert!(run.has_line("> Found 1 file(s)"));
    assert_eq!(run.build["artifacts"]["location"], "");
}

#[test]
fn upload_artifacts_log_sequence() {
    // R-ART-09, line for line.
    let run = with_tree("artifacts:\n  files:\n    - top.txt\n    - nope.txt\n  base-directory: .\n")
        .run_artifacts(&[]);
    let log = run.log();
    let start = log.iter().position(|l| l.starts_with("> Expanding base directory path")).unwrap();
    assert_eq!(
        log[start..],
        [
            "> Expanding base directory path: .",
            "> Assembling file list",
            "> Expanding .",
            "> Expanding file paths for base directory .",
            "> Assembling file list",
            "> Expanding top.txt",
            "> Expanding nope.txt",
            "> Skipping invalid file path nope.txt",
            "> Found 1 file(s)",
            "> No secondary artifacts defined in buildspec",
            "> Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED",
            "> Phase context status code:  Message: ",
        ]
    );
}

#[test]
fn a_secondary_artifact_from_a_secondary_source_directory() {
    // R-ART-03 with AWS's multi-input sample: `base-directory: $CODEBUILD_SRC_DIR_source2` collects
    // from the secondary source; a path outside every source is still refused.
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - touch source1_file\n      - cd $CODEBUILD_SRC_DIR_source2 && touch source2_file\nartifacts:\n  files:\n    - '**/*'\n  secondary-artifacts:\n    artifact1:\n      base-directory: $CODEBUILD_SRC_DIR\n      files:\n        - source1_file\n    artifact2:\n      base-directory: $CODEBUILD_SRC_DIR_source2\n      files:\n        - source2_file\n",
    );
    let second = tempfile::tempdir().unwrap();
    fs::write(second.path().join("lib.txt"), "lib\n").unwrap();
    let source2 = format!("source2={}", second.path().display());
    let run = ctx.run_artifacts(&["--source", &source2]);
    assert_eq!(run.status(), "SUCCEEDED", "{}", run.stdout);
    assert_eq!(run.zip_names("artifact1.zip"), ["source1_file"]);
    assert_eq!(run.zip_names("artifact2.zip"), ["source2_file"]);
    assert!(!second.path().join("source2_file").exists(), "the secondary source is a copy");

    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\nartifacts:\n  files:\n    - '*'\n  base-directory: /etc\n",
    );
    let run = ctx.run_artifacts(&[]);
    assert_eq!(run.status(), "FAILED");
    assert!(
        run.context("UPLOAD_ARTIFACTS").1.contains("`/etc` is outside the source directory"),
        "{}",
        run.stdout
    );
}
