//! Problems found in a buildspec, and how they render (miette text, JSON, CodeBuild's wording).
//!
//! Every problem is collected in one pass; the parser never stops at the first one. Rendering is
//! pure (it returns strings); printing is the CLI's job.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;

use super::yaml::{Span, line_col};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, with its place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    /// Stable identifier, e.g. `unknown-phase`; shown as `buildspec::unknown-phase`.
    pub code: &'static str,
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    pub span: Span,
    /// A few words shown under the span.
    pub label: String,
    /// How to fix it, when a fix is known.
    pub help: Option<String>,
    /// CodeBuild's own `YAML_FILE_ERROR` message for this problem, where the rulebook quotes it
    /// (R-YAML-02). Used as the DOWNLOAD_SOURCE phase context message.
    pub codebuild_message: Option<String>,
}

impl Issue {
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            codebuild_message: None,
        }
    }

    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Issue { severity: Severity::Warning, ..Issue::error(code, message, span, label) }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn codebuild(mut self, message: impl Into<String>) -> Self {
        self.codebuild_message = Some(message.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// All problems of one buildspec file, with the text they point into.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: String,
    pub source: Arc<str>,
    pub issues: Vec<Issue>,
}

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.is_error())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| !i.is_error())
    }

    /// The DOWNLOAD_SOURCE context message CodeBuild would print for the first error (R-YAML-02).
    pub fn codebuild_message(&self) -> Option<String> {
        let first = self.errors().next()?;
        Some(first.codebuild_message.clone().unwrap_or_else(|| {
            let (line, _) = line_col(&self.source, first.span.start);
            format!("{} at line {line}", first.message)
        }))
    }

    /// Human rendering: one miette report per issue, then a summary line. No colors.
    pub fn render(&self, width: usize) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(width)
            .with_links(false);
        let named = Arc::new(NamedSource::new(self.file.clone(), self.source.to_string()));
        let mut out = String::new();
        for issue in &self.issues {
            let diag = IssueDiagnostic { issue, source: named.clone() };
            // Rendering into a String cannot fail except through a formatter bug; keep going.
            let _ = handler.render_report(&mut out, &diag);
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        out.push_str(&format!(
            "{}: {} {}, {} {}\n",
            self.file,
            errors,
            plural(errors, "error", "errors"),
            warnings,
            plural(warnings, "warning", "warnings"),
        ));
        out
    }

    /// Machine rendering for `runspec check --format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let issues: Vec<_> = self
            .issues
            .iter()
            .map(|i| {
                let (line, column) = line_col(&self.source, i.span.start);
                let (end_line, end_column) = line_col(&self.source, i.span.end);
                serde_json::json!({
                    "severity": i.severity,
                    "code": format!("buildspec::{}", i.code),
                    "message": i.message,
                    "file": self.file,
                    "line": line,
                    "column": column,
                    "end_line": end_line,
                    "end_column": end_column,
                    "label": i.label,
                    "help": i.help,
                    "codebuild_message": i.codebuild_message,
                })
            })
            .collect();
        serde_json::json!({
            "file": self.file,
            "valid": !self.has_errors(),
            "errors": self.errors().count(),
            "warnings": self.warnings().count(),
            "issues": issues,
        })
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Adapter so miette can draw an [`Issue`] against the file text.
struct IssueDiagnostic<'a> {
    issue: &'a Issue,
    source: Arc<NamedSource<String>>,
}

impl fmt::Debug for IssueDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.issue, f)
    }
}

impl fmt::Display for IssueDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.issue.message)
    }
}

impl std::error::Error for IssueDiagnostic<'_> {}

impl Diagnostic for IssueDiagnostic<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("buildspec::{}", self.issue.code)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.issue.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.issue.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source.as_ref())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.issue.span;
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(self.issue.label.clone()),
            span.start,
            span.len(),
        ))))
    }
}
