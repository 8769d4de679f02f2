//! Test reports and code coverage (R-REP-01..03): the buildspec's `reports` groups are read after
//! POST_BUILD, summarised in the build log, and written as normalised JSON to `--reports DIR`.
//! Reports never change the build's outcome (R-REP-03); a malformed file is a warning.

pub mod parse;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::artifacts::collect;
use crate::buildspec::ReportGroup;
use crate::engine::events::{BuildEvent, EventSink};
use parse::{CaseStatus, Coverage, Parsed, TestCase};

/// A report keeps at most this many test cases, failures first (R-REP-02).
pub const MAX_CASES: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct ReportSettings {
    /// `--reports DIR`: where the normalised JSON goes.
    pub output: Option<PathBuf>,
    /// Report groups named by name (not ARN) become `<project>-<name>`.
    pub project: String,
}

/// One group's result.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupReport {
    pub name: String,
    pub format: String,
    pub files: Vec<String>,
    pub cases: Vec<TestCase>,
    pub coverage: Option<Coverage>,
    /// Test cases beyond [`MAX_CASES`] that were left out.
    pub truncated: usize,
}

impl GroupReport {
    pub fn is_coverage(&self) -> bool {
        matches!(self.format.as_str(), "COBERTURAXML" | "JACOCOXML" | "CLOVERXML" | "SIMPLECOV")
    }

    fn counts(&self) -> BTreeMap<CaseStatus, usize> {
        let mut counts = BTreeMap::new();
        for c in &self.cases {
            *counts.entry(c.status).or_insert(0) += 1;
        }
        counts
    }

    /// The summary line for the build log.
    pub fn summary(&self) -> String {
        if let Some(c) = &self.coverage {
            return format!(
                "Report group {}: line coverage {:.1}% ({} of {} lines), branch coverage {:.1}% ({} of {} branches)",
                self.name,
                c.line_percent(),
                c.lines_covered,
                c.lines_covered + c.lines_missed,
                c.branch_percent(),
                c.branches_covered,
                c.branches_covered + c.branches_missed
            );
        }
        let counts = self.counts();
        let n = |s| counts.get(&s).copied().unwrap_or(0);
        let total = self.cases.len() + self.truncated;
        format!(
            "Report group {}: {} test(s): {} passed, {} failed, {} errors, {} skipped",
            self.name,
            total,
            n(CaseStatus::Succeeded),
            n(CaseStatus::Failed),
            n(CaseStatus::Error),
            n(CaseStatus::Skipped)
        )
    }

    /// Normalised JSON, shaped after CodeBuild's `Report` (test summary, code coverage summary)
    /// with the test cases.
    pub fn to_json(&self) -> serde_json::Value {
        let failed = self.cases.iter().any(|c| matches!(c.status, CaseStatus::Failed | CaseStatus::Error));
        let mut v = json!({
            "reportGroupName": self.name,
            "type": if self.is_coverage() { "CODE_COVERAGE" } else { "TEST" },
            "fileFormat": self.format,
            "status": if failed { "FAILED" } else { "SUCCEEDED" },
            "files": self.files,
        });
        match &self.coverage {
            Some(c) => {
                v["codeCoverageSummary"] = json!({
                    "lineCoveragePercentage": (c.line_percent() * 100.0).round() / 100.0,
                    "linesCovered": c.lines_covered,
                    "linesMissed": c.lines_missed,
                    "branchCoveragePercentage": (c.branch_percent() * 100.0).round() / 100.0,
                    "branchesCovered": c.branches_covered,
                    "branchesMissed": c.branches_missed,
                });
            }
            None => {
                let counts: BTreeMap<String, usize> = self
                    .counts()
                    .into_iter()
                    .map(|(s, n)| {
                        (
                            serde_json::to_value(s)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            n,
                        )
                    })
                    .collect();
                v["testSummary"] = json!({
                    "total": self.cases.len() + self.truncated,
                    "statusCounts": counts,
                    "durationInNanoSeconds": self.cases.iter().map(|c| c.duration_in_nano_seconds).sum::<u64>(),
                });
                v["testCases"] = json!(self.cases);
                if self.truncated > 0 {
                    v["truncatedTestCases"] = json!(self.truncated);
                }
            }
        }
        v
    }
}

/// The group's name as CodeBuild names it.
pub fn group_name(project: &str, name: &str) -> String {
    if name.starts_with("arn:") { name.to_string() } else { format!("{project}-{name}") }
}

/// Reads every group, logs a summary per group, writes JSON when asked. Never fails the build.
pub fn process(
    groups: &[ReportGroup],
    src_dir: &Path,
    settings: &ReportSettings,
    sink: &mut dyn EventSink,
) -> Vec<GroupReport> {
    let mut out = Vec::new();
    for g in groups {
        let name = group_name(&settings.project, &g.name);
        let base = g.base_directory.as_ref().map(|b| b.value.clone()).unwrap_or_default();
        let patterns: Vec<String> = g.files.iter().map(|f| f.value.clone()).collect();
        let found = match collect::collect(src_dir, &base, &patterns, &[], false, false) {
            Ok(f) => f,
            Err(e) => {
                sink.event(BuildEvent::Warning(&format!("report group {name}: {e}")));
                continue;
            }
        };
        if found.files.is_empty() {
            sink.event(BuildEvent::Warning(&format!(
                "report group {name}: no report files match {}",
                patterns.join(", ")
            )));
            continue;
        }
        let mut report = GroupReport {
            name: name.clone(),
            format: g.file_format.clone(),
            files: Vec::new(),
            cases: Vec::new(),
            coverage: None,
            truncated: 0,
        };
        for f in &found.files {
            let text = match f.open().and_then(std::io::read_to_string) {
                Ok(t) => t,
                Err(e) => {
                    sink.event(BuildEvent::Warning(&format!("report file {}: {e}; skipped", f.dest)));
                    continue;
                }
            };
            match parse::parse(&g.file_format, &text) {
                Ok(Parsed::Tests(cases)) => report.cases.extend(cases),
                Ok(Parsed::Coverage(c)) => {
                    let total = report.coverage.get_or_insert_with(Coverage::default);
                    total.lines_covered += c.lines_covered;
                    total.lines_missed += c.lines_missed;
                    total.branches_covered += c.branches_covered;
                    total.branches_missed += c.branches_missed;
                }
                Err(e) => {
                    sink.event(BuildEvent::Warning(&format!(
                        "report file {} is not valid {}: {e}; skipped",
                        f.dest, g.file_format
                    )));
                    continue;
                }
            }
            report.files.push(f.dest.clone());
        }
        if report.files.is_empty() {
            continue;
        }
        if report.cases.len() > MAX_CASES {
            // Failures first, then the rest in file order (R-REP-02).
            report.cases.sort_by_key(|c| !matches!(c.status, CaseStatus::Failed | CaseStatus::Error));
            report.truncated = report.cases.len() - MAX_CASES;
            report.cases.truncate(MAX_CASES);
        }
        sink.event(BuildEvent::Note(&report.summary()));
        if let Some(dir) = &settings.output {
            let file = dir.join(format!("{}.json", name.replace(['/', ':'], "_")));
            let written = std::fs::create_dir_all(dir).and_then(|_| {
                std::fs::write(&file, serde_json::to_string_pretty(&report.to_json()).unwrap_or_default())
            });
            if let Err(e) = written {
                sink.event(BuildEvent::Warning(&format!("cannot write {}: {e}", file.display())));
            }
        }
        out.push(report);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(status: CaseStatus) -> TestCase {
        TestCase { prefix: "p".into(), name: "n".into(), status, duration_in_nano_seconds: 1, message: None }
    }

    #[test]
    fn names_and_summaries() {
        assert_eq!(group_name("app", "unit"), "app-unit");
        assert_eq!(
            group_name("app", "arn:aws:codebuild:us-east-1:1:report-group/x"),
            "arn:aws:codebuild:us-east-1:1:report-group/x"
        );
        let r = GroupReport {
            name: "app-unit".into(),
            format: "JUNITXML".into(),
            files: vec!["a.xml".into()],
            cases: vec![case(CaseStatus::Succeeded), case(CaseStatus::Failed), case(CaseStatus::Skipped)],
            coverage: None,
            truncated: 0,
        };
        assert_eq!(r.summary(), "Report group app-unit: 3 test(s): 1 passed, 1 failed, 0 errors, 1 skipped");
        assert_eq!(r.to_json()["status"], "FAILED");
        assert_eq!(r.to_json()["testSummary"]["statusCounts"]["SKIPPED"], 1);
    }
}
