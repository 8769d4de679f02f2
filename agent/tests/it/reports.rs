//! §12 reports: every format from a sample file (the JUnit and Cobertura ones are real pytest
//! and coverage.py output), summaries in the log, normalised JSON, no effect on the outcome.

use crate::support::Ctx;

fn fixture(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports").join(name);
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn every_format_is_summarised_and_written_as_json() {
    // R-REP-01 formats; the summary line and the JSON agree.
    #[rustfmt::skip]
    let table = [
        ("junit.xml", "JUNITXML", "6 test(s): 4 passed, 1 failed, 0 errors, 1 skipped"),
        ("nunit2.xml", "NUNITXML", "4 test(s): 2 passed, 1 failed, 0 errors, 1 skipped"),
        ("nunit3.xml", "NUNIT3XML", "5 test(s): 2 passed, 1 failed, 1 errors, 1 skipped"),
        ("testng.xml", "TESTNGXML", "4 test(s): 2 passed, 1 failed, 0 errors, 1 skipped"),
        ("results.trx", "VISUALSTUDIOTRX", "3 test(s): 1 passed, 1 failed, 0 errors, 1 skipped"),
        ("cucumber.json", "CucumberJson", "3 test(s): 1 passed, 1 failed, 0 errors, 1 skipped"),
        ("cobertura.xml", "COBERTURAXML", "line coverage 92.9% (26 of 28 lines), branch coverage 83.3% (5 of 6 branches)"),
        ("jacoco.xml", "JACOCOXML", "line coverage 80.0% (4 of 5 lines), branch coverage 75.0% (3 of 4 branches)"),
        ("clover.xml", "CLOVERXML", "line coverage 75.0% (30 of 40 lines), branch coverage 60.0% (6 of 10 branches)"),
        ("simplecov.json", "SIMPLECOV", "line coverage 81.8% (9 of 11 lines), branch coverage 50.0% (1 of 2 branches)"),
    ];
    for (file, format, summary) in table {
        let ctx = Ctx::new(&format!(
            "version: 0.2\nphases:\n  build:\n    commands: [echo tests ran]\nreports:\n  results:\n    files:\n      - '{file}'\n    base-directory: out/reports\n    file-format: {format}\n"
        ));
        ctx.write(&format!("out/reports/{file}"), &fixture(file));
        let dir = tempfile::tempdir().unwrap();
        let run = ctx.run_with(&["--reports", dir.path().to_str().unwrap()]);
        let project = ctx.src.path().file_name().unwrap().to_string_lossy().replace('.', "-");
        let line = format!("> Report group {project}-results: {summary}");
        assert!(run.has_line(&line), "{format}: missing `{line}`\n{}", run.stdout);
        assert_eq!(run.status(), "SUCCEEDED", "R-REP-03: failing tests in a report do not fail the build");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{project}-results.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(json["fileFormat"], format.to_uppercase());
        if summary.starts_with("line") {
            assert_eq!(json["type"], "CODE_COVERAGE");
            assert!(json["codeCoverageSummary"]["lineCoveragePercentage"].as_f64().unwrap() > 0.0);
        } else {
            assert_eq!(json["type"], "TEST");
            assert_eq!(json["status"], "FAILED", "{format}: a failed case fails the report");
            let total = json["testSummary"]["total"].as_u64().unwrap();
            assert_eq!(json["testCases"].as_array().unwrap().len() as u64, total);
        }
    }
}

#[test]
fn a_malformed_report_is_a_warning() {
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands: [echo ok]\nreports:\n  unit:\n    files: ['*.xml']\n    file-format: JUNITXML\n",
    );
    ctx.write("broken.xml", "<testsuite><testcase name='a'>");
    ctx.write("good.xml", "<testsuite name='s'><testcase classname='c' name='a' time='0.5'/></testsuite>");
    let run = ctx.run();
    assert_eq!(run.status(), "SUCCEEDED");
    assert!(run.stdout.contains("Warning: report file broken.xml is not valid JUNITXML"), "{}", run.stdout);
    assert!(run.stdout.contains(": 1 test(s): 1 passed, 0 failed, 0 errors, 0 skipped"));
}

#[test]
fn reports_are_read_even_when_the_build_fails() {
    // The point of a test report: it is there when tests fail (R-TR-02: BUILD failure still
    // reaches UPLOAD_ARTIFACTS).
    let ctx = Ctx::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - printf \"<testsuite name='s'><testcase name='t'><failure message='boom'/></testcase></testsuite>\" > r.xml\n      - exit 1\nreports:\n  unit:\n    files: [r.xml]\n",
    );
    let run = ctx.run();
    assert_eq!(run.status(), "FAILED");
    assert!(run.stdout.contains(": 1 test(s): 0 passed, 1 failed, 0 errors, 0 skipped"), "{}", run.stdout);
}

#[test]
fn at_most_500_cases_failures_first() {
    // R-REP-02.
    let mut xml = String::from("<testsuite name='big'>");
    for i in 0..600 {
        xml.push_str(&format!("<testcase name='ok{i}'/>"));
    }
    xml.push_str("<testcase name='bad'><failure message='x'/></testcase></testsuite>");
    let ctx = Ctx::new("version: 0.2\nreports:\n  unit:\n    files: [big.xml]\n");
    ctx.write("big.xml", &xml);
    let dir = tempfile::tempdir().unwrap();
    let run = ctx.run_with(&["--reports", dir.path().to_str().unwrap()]);
    let file = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(json["testCases"].as_array().unwrap().len(), 500, "{}", run.stdout);
    assert_eq!(json["testCases"][0]["name"], "bad");
    assert_eq!(json["testSummary"]["total"], 601);
}
