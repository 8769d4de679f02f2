//! Test and coverage report formats (R-REP-01) → one normalised shape. Pure: text in, summary out.

use std::fmt;

/// A test case's status (R-REP-02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaseStatus {
    Succeeded,
    Failed,
    Error,
    Skipped,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// The suite or class, CodeBuild's `prefix`.
    pub prefix: String,
    pub name: String,
    pub status: CaseStatus,
    pub duration_in_nano_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Line and branch counts of a coverage report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub branches_covered: u64,
    pub branches_missed: u64,
}

impl Coverage {
    pub fn line_percent(&self) -> f64 {
        percent(self.lines_covered, self.lines_covered + self.lines_missed)
    }

    pub fn branch_percent(&self) -> f64 {
        percent(self.branches_covered, self.branches_covered + self.branches_missed)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64) * 100.0 / (whole as f64) }
}

/// What one file held.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Tests(Vec<TestCase>),
    Coverage(Coverage),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

/// Parses one report file of the given (upper-case) format.
pub fn parse(format: &str, text: &str) -> Result<Parsed, ParseError> {
    match format {
        "JUNITXML" => junit(text).map(Parsed::Tests),
        "NUNITXML" => nunit2(text).map(Parsed::Tests),
        "NUNIT3XML" => nunit3(text).map(Parsed::Tests),
        "TESTNGXML" => testng(text).map(Parsed::Tests),
        "VISUALSTUDIOTRX" => trx(text).map(Parsed::Tests),
        "CUCUMBERJSON" => cucumber(text).map(Parsed::Tests),
        "COBERTURAXML" => cobertura(text).map(Parsed::Coverage),
        "JACOCOXML" => jacoco(text).map(Parsed::Coverage),
        "CLOVERXML" => clover(text).map(Parsed::Coverage),
        "SIMPLECOV" => simplecov(text).map(Parsed::Coverage),
        other => Err(err(format!("unknown report format {other}"))),
    }
}

fn xml(text: &str) -> Result<roxmltree::Document<'_>, ParseError> {
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    roxmltree::Document::parse_with_options(text, options).map_err(|e| err(format!("not valid XML: {e}")))
}

fn seconds_to_ns(s: Option<&str>) -> u64 {
    s.and_then(|v| v.trim().parse::<f64>().ok()).map_or(0, |secs| (secs.max(0.0) * 1e9) as u64)
}

fn attr<'a>(n: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    n.attribute(name).unwrap_or("")
}

fn child_text(n: roxmltree::Node<'_, '_>, tag: &str) -> Option<String> {
    n.children().find(|c| c.has_tag_name(tag)).map(|c| {
        c.attribute("message")
            .map(str::to_string)
            .unwrap_or_else(|| c.text().unwrap_or("").trim().to_string())
    })
}

/// The trimmed text of the first `<tag>` below `n` (a failure or skip message).
fn descendant_text(n: roxmltree::Node<'_, '_>, tag: &str) -> Option<String> {
    n.descendants().find(|d| d.has_tag_name(tag)).and_then(|d| d.text()).map(|t| t.trim().to_string())
}

fn expect_root(doc: &roxmltree::Document<'_>, names: &[&str]) -> Result<(), ParseError> {
    let root = doc.root_element().tag_name().name();
    if names.contains(&root) {
        Ok(())
    } else {
        Err(err(format!("expected a <{}> document, found <{root}>", names.join("> or <"))))
    }
}

/// JUnit XML: `<testsuites>`/`<testsuite>` with `<testcase>`s holding `<failure>`, `<error>` or
/// `<skipped>`.
fn junit(text: &str) -> Result<Vec<TestCase>, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["testsuites", "testsuite"])?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|tc| {
            let suite =
                tc.ancestors().find(|a| a.has_tag_name("testsuite")).map(|s| attr(s, "name")).unwrap_or("");
            let prefix = tc.attribute("classname").unwrap_or(suite).to_string();
            let (status, message) = if let Some(m) = child_text(tc, "failure") {
                (CaseStatus::Failed, Some(m))
            } else if let Some(m) = child_text(tc, "error") {
                (CaseStatus::Error, Some(m))
            } else if tc.children().any(|c| c.has_tag_name("skipped")) {
                (CaseStatus::Skipped, child_text(tc, "skipped").filter(|s| !s.is_empty()))
            } else {
                (CaseStatus::Succeeded, None)
            };
            TestCase {
                prefix,
                name: attr(tc, "name").to_string(),
                status,
                duration_in_nano_seconds: seconds_to_ns(tc.attribute("time")),
                message,
            }
        })
        .collect())
}

/// NUnit 2: `<test-results>` with `<test-case executed result success time>`.
fn nunit2(text: &str) -> Result<Vec<TestCase>, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["test-results"])?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("test-case"))
        .map(|tc| {
            let full = attr(tc, "name");
            let (prefix, name) = full.rsplit_once('.').unwrap_or(("", full));
            let status = match (attr(tc, "executed"), attr(tc, "result")) {
                ("False", _) | (_, "Ignored" | "Skipped" | "NotRunnable") => CaseStatus::Skipped,
                (_, "Success") => CaseStatus::Succeeded,
                (_, "Failure") => CaseStatus::Failed,
                (_, "Error") => CaseStatus::Error,
                _ => CaseStatus::Unknown,
            };
            let message = descendant_text(tc, "message");
            TestCase {
                prefix: prefix.into(),
                name: name.into(),
                status,
                duration_in_nano_seconds: seconds_to_ns(tc.attribute("time")),
                message,
            }
        })
        .collect())
}

/// NUnit 3: `<test-run>` with `<test-case result="Passed|Failed|Skipped" label duration>`.
fn nunit3(text: &str) -> Result<Vec<TestCase>, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["test-run"])?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("test-case"))
        .map(|tc| {
            let full = tc.attribute("fullname").unwrap_or(attr(tc, "name"));
            let prefix = tc
                .attribute("classname")
                .map(str::to_string)
                .unwrap_or_else(|| full.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default());
            let status = match (attr(tc, "result"), attr(tc, "label")) {
                ("Passed", _) => CaseStatus::Succeeded,
                ("Failed", "Error" | "Cancelled" | "Invalid") => CaseStatus::Error,
                ("Failed", _) => CaseStatus::Failed,
                ("Skipped", _) => CaseStatus::Skipped,
                _ => CaseStatus::Unknown,
            };
            let message = descendant_text(tc, "message");
            TestCase {
                prefix,
                name: attr(tc, "name").to_string(),
                status,
                duration_in_nano_seconds: seconds_to_ns(tc.attribute("duration")),
                message,
            }
        })
        .collect())
}

/// TestNG: `<testng-results>` with `<test-method status name duration-ms>` inside `<class>`;
/// configuration methods (`is-config="true"`) are not tests.
fn testng(text: &str) -> Result<Vec<TestCase>, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["testng-results"])?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("test-method") && n.attribute("is-config") != Some("true"))
        .map(|tm| {
            let prefix = tm
                .ancestors()
                .find(|a| a.has_tag_name("class"))
                .map(|c| attr(c, "name"))
                .unwrap_or("")
                .to_string();
            let status = match attr(tm, "status") {
                "PASS" => CaseStatus::Succeeded,
                "FAIL" => CaseStatus::Failed,
                "SKIP" => CaseStatus::Skipped,
                _ => CaseStatus::Unknown,
            };
            let message = descendant_text(tm, "message");
            let ms = attr(tm, "duration-ms").parse::<u64>().unwrap_or(0);
            TestCase {
                prefix,
                name: attr(tm, "name").to_string(),
                status,
                duration_in_nano_seconds: ms * 1_000_000,
                message,
            }
        })
        .collect())
}

/// `hh:mm:ss.fffffff` (TRX durations).
fn trx_duration(d: &str) -> u64 {
    let mut parts = d.split(':');
    let (h, m, s) = (parts.next(), parts.next(), parts.next());
    match (
        h.and_then(|v| v.parse::<f64>().ok()),
        m.and_then(|v| v.parse::<f64>().ok()),
        s.and_then(|v| v.parse::<f64>().ok()),
    ) {
        (Some(h), Some(m), Some(s)) => ((h * 3600.0 + m * 60.0 + s) * 1e9) as u64,
        _ => 0,
    }
}

/// Visual Studio TRX: `<TestRun>` with `<UnitTestResult testName outcome duration>`; the class
/// comes from the matching `<UnitTest><TestMethod className>`.
fn trx(text: &str) -> Result<Vec<TestCase>, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["TestRun"])?;
    let class_of = |test_id: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("UnitTest") && n.attribute("id") == Some(test_id))
            .and_then(|u| u.children().find(|c| c.has_tag_name("TestMethod")))
            .and_then(|m| m.attribute("className"))
            .unwrap_or("")
            .to_string()
    };
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("UnitTestResult"))
        .map(|r| {
            let status = match attr(r, "outcome") {
                "Passed" => CaseStatus::Succeeded,
                "Failed" => CaseStatus::Failed,
                "Error" | "Aborted" | "Timeout" => CaseStatus::Error,
                "NotExecuted" | "Inconclusive" | "Skipped" => CaseStatus::Skipped,
                _ => CaseStatus::Unknown,
            };
            let message = descendant_text(r, "Message");
            TestCase {
                prefix: class_of(attr(r, "testId")),
                name: attr(r, "testName").to_string(),
                status,
                duration_in_nano_seconds: trx_duration(attr(r, "duration")),
                message,
            }
        })
        .collect())
}

/// Cucumber JSON: features → scenarios (`elements`, backgrounds excluded) → steps with
/// `result.status`; a scenario fails when a step failed, is skipped when a step was skipped,
/// pending or undefined.
fn cucumber(text: &str) -> Result<Vec<TestCase>, ParseError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let features = v.as_array().ok_or_else(|| err("expected a JSON array of features"))?;
    let mut cases = Vec::new();
    for f in features {
        let feature = f["name"].as_str().unwrap_or("").to_string();
        for s in f["elements"].as_array().into_iter().flatten() {
            if s["type"] == "background" {
                continue;
            }
            let mut status = CaseStatus::Succeeded;
            let mut duration = 0u64;
            let mut message = None;
            for step in s["steps"].as_array().into_iter().flatten() {
                let r = &step["result"];
                duration += r["duration"].as_u64().unwrap_or(0);
                match r["status"].as_str().unwrap_or("") {
                    "passed" => {}
                    "failed" => {
                        status = CaseStatus::Failed;
                        message = message.or_else(|| r["error_message"].as_str().map(str::to_string));
                    }
                    "skipped" | "pending" | "undefined" if status != CaseStatus::Failed => {
                        status = CaseStatus::Skipped
                    }
                    _ => {}
                }
            }
            cases.push(TestCase {
                prefix: feature.clone(),
                name: s["name"].as_str().unwrap_or("").to_string(),
                status,
                duration_in_nano_seconds: duration,
                message,
            });
        }
    }
    Ok(cases)
}

fn num(n: roxmltree::Node<'_, '_>, name: &str) -> u64 {
    n.attribute(name).and_then(|v| v.parse::<f64>().ok()).map_or(0, |f| f as u64)
}

/// Cobertura: `<coverage lines-covered lines-valid branches-covered branches-valid>`.
fn cobertura(text: &str) -> Result<Coverage, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["coverage"])?;
    let c = doc.root_element();
    let (lc, lv, bc, bv) = (
        num(c, "lines-covered"),
        num(c, "lines-valid"),
        num(c, "branches-covered"),
        num(c, "branches-valid"),
    );
    Ok(Coverage {
        lines_covered: lc,
        lines_missed: lv.saturating_sub(lc),
        branches_covered: bc,
        branches_missed: bv.saturating_sub(bc),
    })
}

/// JaCoCo: the report's own `<counter type="LINE|BRANCH" missed covered>` (direct children of
/// `<report>`, the totals).
fn jacoco(text: &str) -> Result<Coverage, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["report"])?;
    let mut cov = Coverage::default();
    for c in doc.root_element().children().filter(|n| n.has_tag_name("counter")) {
        match attr(c, "type") {
            "LINE" => (cov.lines_covered, cov.lines_missed) = (num(c, "covered"), num(c, "missed")),
            "BRANCH" => (cov.branches_covered, cov.branches_missed) = (num(c, "covered"), num(c, "missed")),
            _ => {}
        }
    }
    Ok(cov)
}

/// Clover: the project's `<metrics statements coveredstatements conditionals
/// coveredconditionals>`; statements stand for lines, conditionals for branches.
fn clover(text: &str) -> Result<Coverage, ParseError> {
    let doc = xml(text)?;
    expect_root(&doc, &["coverage"])?;
    let m = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("project"))
        .and_then(|p| p.children().find(|n| n.has_tag_name("metrics")))
        .ok_or_else(|| err("no <project><metrics> element"))?;
    let (s, cs, c, cc) = (
        num(m, "statements"),
        num(m, "coveredstatements"),
        num(m, "conditionals"),
        num(m, "coveredconditionals"),
    );
    Ok(Coverage {
        lines_covered: cs,
        lines_missed: s.saturating_sub(cs),
        branches_covered: cc,
        branches_missed: c.saturating_sub(cc),
    })
}

/// SimpleCov's JSON (`coverage/coverage.json`, or `.resultset.json`): per file, `lines` (null for
/// lines that cannot run, else hit counts) and optional `branches` with `coverage` counts.
fn simplecov(text: &str) -> Result<Coverage, ParseError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let mut files: Vec<&serde_json::Value> = Vec::new();
    if let Some(cov) = v.get("coverage").and_then(|c| c.as_object()) {
        files.extend(cov.values());
    } else if let Some(obj) = v.as_object() {
        // .resultset.json: {"RSpec": {"coverage": {...}, "timestamp": …}, …}
        for run in obj.values() {
            files
                .extend(run.get("coverage").and_then(|c| c.as_object()).into_iter().flat_map(|c| c.values()));
        }
    }
    if files.is_empty() {
        return Err(err("no `coverage` object"));
    }
    let mut cov = Coverage::default();
    for f in files {
        let lines = f.get("lines").or(Some(f)).and_then(|l| l.as_array());
        for hits in lines.into_iter().flatten() {
            match hits.as_u64() {
                Some(0) => cov.lines_missed += 1,
                Some(_) => cov.lines_covered += 1,
                None => {}
            }
        }
        for b in f.get("branches").and_then(|b| b.as_array()).into_iter().flatten() {
            if b["coverage"].as_u64().unwrap_or(0) > 0 {
                cov.branches_covered += 1;
            } else {
                cov.branches_missed += 1;
            }
        }
    }
    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for format in [
            "JUNITXML",
            "NUNITXML",
            "NUNIT3XML",
            "TESTNGXML",
            "VISUALSTUDIOTRX",
            "CUCUMBERJSON",
            "COBERTURAXML",
            "JACOCOXML",
            "CLOVERXML",
            "SIMPLECOV",
        ] {
            for text in ["", "<", "{", "<other/>", "[1, 2]", "not a report"] {
                let _ = parse(format, text);
            }
            assert!(parse(format, "<<<").is_err(), "{format}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(trx_duration("00:01:02.5000000"), 62_500_000_000);
        assert_eq!(seconds_to_ns(Some("0.25")), 250_000_000);
    }
}
