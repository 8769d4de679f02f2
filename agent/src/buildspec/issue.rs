//! Problems found in a buildspec, and how they render (miette text, JSON, CodeBuild's wording).
//!
//! Every problem is collected in one pass; the parser never stops at the first one. Rendering is
//! pure (it returns strings); printing is the CLI's job.

use std::fmt;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteSpanContents, NamedSource,
    SourceSpan,
};
use serde::Serialize;

use super::yaml::{LineIndex, Span, line_col};

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
    /// What kind of file it is, the prefix of every code: `buildspec`, `pipeline`.
    pub domain: &'static str,
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
    ///
    /// The renderer is given at most a few short lines around each problem ([`Excerpt`]): a
    /// line of 70,000 characters would otherwise reach formatting widths the standard library
    /// refuses. A renderer panic that slipped past that still becomes the plain form of the
    /// issue, never a crash.
    pub fn render(&self, width: usize) -> String {
        let mut out = String::new();
        for issue in self.issues.iter().take(MAX_RENDERED) {
            let rendered =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.render_issue(issue, width)));
            match rendered {
                Ok(text) => out.push_str(&text),
                Err(_) => out.push_str(&self.plain(issue)),
            }
        }
        if self.issues.len() > MAX_RENDERED {
            out.push_str(&format!(
                "  … and {} more (`runspec check --format json` lists every one)\n\n",
                self.issues.len() - MAX_RENDERED
            ));
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

    /// One issue through miette. Public for the fuzz harness (`bench/fuzz`), which must see a
    /// panic rather than the fallback.
    #[doc(hidden)]
    pub fn render_issue(&self, issue: &Issue, width: usize) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(width)
            .with_links(false);
        let mut out = String::new();
        let result = match Excerpt::around(&self.file, &self.source, issue.span) {
            Some(excerpt) => {
                let label = excerpt.label;
                let diag = IssueDiagnostic { domain: self.domain, issue, source: &excerpt, label };
                handler.render_report(&mut out, &diag)
            }
            None => {
                let named = NamedSource::new(self.file.clone(), self.source.clone());
                let label = SourceSpan::new(issue.span.start.into(), issue.span.len());
                let diag = IssueDiagnostic { domain: self.domain, issue, source: &named, label };
                handler.render_report(&mut out, &diag)
            }
        };
        // Rendering into a String cannot fail except through a formatter bug.
        if result.is_err() {
            return self.plain(issue);
        }
        out
    }

    /// An issue without a source snippet.
    fn plain(&self, issue: &Issue) -> String {
        let (line, column) = line_col(&self.source, issue.span.start);
        let mut out = format!(
            "  {} {}\n   at {}:{line}:{column}\n",
            if issue.is_error() { "×" } else { "⚠" },
            issue.message,
            self.file
        );
        if let Some(help) = &issue.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        out.push('\n');
        out
    }

    /// Machine rendering for `runspec check --format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let index = LineIndex::new(&self.source);
        let issues: Vec<_> = self
            .issues
            .iter()
            .map(|i| {
                let (line, column) = index.line_col(i.span.start);
                let (end_line, end_column) = index.line_col(i.span.end);
                serde_json::json!({
                    "severity": i.severity,
                    "code": format!("{}::{}", self.domain, i.code),
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

/// Adapter so miette can draw an [`Issue`] against the file text (or an excerpt of it).
struct IssueDiagnostic<'a> {
    domain: &'static str,
    issue: &'a Issue,
    source: &'a dyn miette::SourceCode,
    /// The issue's span in `source`'s coordinates.
    label: SourceSpan,
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
        Some(Box::new(format!("{}::{}", self.domain, self.issue.code)))
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
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.issue.label.clone()),
            self.label,
        ))))
    }
}

/// The human rendering shows this many problems, then says how many more there are.
const MAX_RENDERED: usize = 50;

/// Lines longer than this (characters) are shown as a window around the problem.
const MAX_SHOWN_CHARS: usize = 160;
/// A span over more lines than this is shown on its first line.
const MAX_SHOWN_LINES: usize = 12;

/// A few lines of the buildspec around a problem, each at most [`MAX_SHOWN_CHARS`] long, that
/// tells miette the real line and column numbers. Used when the text around the problem has
/// long lines or the problem spans many of them; other problems are drawn from the file itself.
struct Excerpt {
    name: String,
    text: String,
    /// 0-based number of the excerpt's first line in the file.
    first_line: usize,
    /// Where the problem starts in the file, 0-based line and character column.
    line: usize,
    column: usize,
    /// The problem in the excerpt's coordinates.
    label: SourceSpan,
}

impl Excerpt {
    fn around(name: &str, src: &str, span: Span) -> Option<Excerpt> {
        let start = span.start.min(src.len());
        let (line1, col1) = line_col(src, start);
        let (end_line1, _) = line_col(src, span.end.min(src.len()));
        let lines: Vec<&str> = src.split('\n').collect();
        let (line, column) = (line1 - 1, col1 - 1);
        let first = line.saturating_sub(1);
        let last = (end_line1 - 1 + 1).min(lines.len().saturating_sub(1));
        let long = lines[first..=last.max(first)].iter().any(|l| l.chars().count() > MAX_SHOWN_CHARS);
        if !long && end_line1 - line1 <= MAX_SHOWN_LINES {
            return None;
        }
        // The problem's own line, windowed around its column; one line of context each side.
        let line_start: usize = lines[..line].iter().map(|l| l.len() + 1).sum();
        let own = lines[line];
        let span_in_line = start - line_start;
        let span_end_in_line = (span.end.min(line_start + own.len())).max(start) - line_start;
        let mut text = String::new();
        if first < line {
            text.push_str(&clip(lines[first], 0).0);
            text.push('\n');
        }
        let window_from = column.saturating_sub(MAX_SHOWN_CHARS / 3);
        let (shown, shown_from_byte, prefix_len) = clip(own, window_from);
        let label_start = text.len() + prefix_len + span_in_line.saturating_sub(shown_from_byte);
        let shown_content_end =
            text.len() + shown.len() - if shown.ends_with('…') { '…'.len_utf8() } else { 0 };
        let label_end = (text.len() + prefix_len + span_end_in_line.saturating_sub(shown_from_byte))
            .min(shown_content_end);
        text.push_str(&shown);
        if line + 1 < lines.len() {
            text.push('\n');
            text.push_str(&clip(lines[line + 1], 0).0);
        }
        let label_start = label_start.min(text.len());
        let label = SourceSpan::new(label_start.into(), label_end.max(label_start) - label_start);
        Some(Excerpt { name: name.to_string(), text, first_line: first, line, column, label })
    }
}

/// At most [`MAX_SHOWN_CHARS`] characters of `line` from character `from`, with `…` where text
/// was left out; the byte offset in `line` the shown text starts at, and the prefix's length.
fn clip(line: &str, from: usize) -> (String, usize, usize) {
    let from_byte = line.char_indices().nth(from).map_or(line.len(), |(i, _)| i);
    let rest = &line[from_byte..];
    let mut shown = String::new();
    let prefix = if from_byte > 0 { "…" } else { "" };
    shown.push_str(prefix);
    let cut = rest.char_indices().nth(MAX_SHOWN_CHARS).map_or(rest.len(), |(i, _)| i);
    shown.push_str(&rest[..cut]);
    if cut < rest.len() {
        shown.push('…');
    }
    (shown, from_byte, prefix.len())
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // Without context the renderer asks where the problem is, for the `[file:line:col]`
        // header: the file's numbers, not the excerpt's.
        if context_lines_before == 0 && context_lines_after == 0 {
            let from = span.offset().min(self.text.len());
            let to = (from + span.len()).min(self.text.len());
            return Ok(Box::new(MietteSpanContents::new_named(
                self.name.clone(),
                &self.text.as_bytes()[from..to],
                *span,
                self.line,
                self.column,
                1,
            )));
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            SourceSpan::new(0.into(), self.text.len()),
            self.first_line,
            0,
            self.text.lines().count().max(1),
        )))
    }
}
