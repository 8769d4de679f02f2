//! Snapshot of every buildspec fixture's diagnostics (R-YAML-01..05): the human rendering, the
//! JSON form and CodeBuild's DOWNLOAD_SOURCE message. Adding a case means adding a file under
//! `tests/fixtures/buildspecs/{valid,invalid}/`.

use std::fs;
use std::path::Path;

use runspec::buildspec;

fn fixtures(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/buildspecs").join(kind);
    let mut files: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn invalid_buildspecs_report_every_problem_with_a_position() {
    for path in fixtures("invalid") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let src = fs::read_to_string(&path).unwrap();
        let parsed = buildspec::parse(name.clone(), &src);
        assert!(parsed.diagnostics.has_errors(), "{name} should be invalid");
        let rendered = format!(
            "{}\n--- codebuild message ---\n{}\n",
            parsed.diagnostics.render(100),
            parsed.diagnostics.codebuild_message().unwrap_or_default()
        );
        insta::assert_snapshot!(name.clone(), rendered);
    }
}

#[test]
fn valid_buildspecs_parse_without_errors() {
    for path in fixtures("valid") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let src = fs::read_to_string(&path).unwrap();
        let parsed = buildspec::parse(name.clone(), &src);
        assert!(!parsed.diagnostics.has_errors(), "{name}: {}", parsed.diagnostics.render(100));
        assert!(parsed.buildspec.is_some());
    }
}

#[test]
fn json_output_has_one_based_lines_and_columns() {
    let src = "version: 0.2\nphases:\n  biuld:\n    commands:\n      - make\n";
    let parsed = buildspec::parse("buildspec.yml", src);
    let json = parsed.diagnostics.to_json();
    assert_eq!(json["valid"], false);
    let issue = &json["issues"][0];
    assert_eq!(issue["code"], "buildspec::unknown-phase");
    assert_eq!((issue["line"].as_u64(), issue["column"].as_u64()), (Some(3), Some(3)));
    assert_eq!(
        issue["help"],
        "did you mean `build`? phases are `install`, `pre_build`, `build` and `post_build`"
    );
}

/// Bad input never panics: thousands of deterministic mutations of every fixture are parsed and
/// their diagnostics rendered and serialised.
#[test]
fn mutated_buildspecs_never_panic() {
    let alphabet: Vec<char> = ":- \t\n'\"|>&*!#%@`{}[],?é\u{feff}0aZ".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut files = fixtures("valid");
    files.extend(fixtures("invalid"));
    for path in files {
        let original: Vec<char> = fs::read_to_string(&path).unwrap().chars().collect();
        for _ in 0..300 {
            let mut text = original.clone();
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 3 {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 if at < text.len() => text[at] = alphabet[(next() as usize) % alphabet.len()],
                    _ => text.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let src: String = text.into_iter().collect();
            let parsed = buildspec::parse("m.yml", &src);
            let _ = parsed.diagnostics.render(80);
            let _ = parsed.diagnostics.to_json();
            let _ = parsed.diagnostics.codebuild_message();
        }
    }
}
