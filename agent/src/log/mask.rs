//! Secret masking for the build log (R-ENV-08): every occurrence of a secret value becomes `***`,
//! in command output as it streams (including a value split across output chunks), in the
//! `Running command` echo and in every agent line.
//!
//! Beyond CodeBuild, which masks the exact stored string only, each secret's base64 forms (at any
//! alignment inside a longer base64 text) and its URL-encoded forms are masked too.
//!
//! Values shorter than [`MIN_SECRET_LEN`] are not masked: masking every `1` or `no` in a log
//! would make it unreadable and hides nothing.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use crate::engine::events::{BuildEvent, EventSink};

/// What a secret is replaced with (R-ENV-08).
pub const MASK: &[u8] = b"***";
/// Shorter values are left alone.
pub const MIN_SECRET_LEN: usize = 4;
/// The longest value a plugin may register with `mask-secret`.
pub const MAX_PLUGIN_SECRET_BYTES: usize = 8 << 10;
/// How many values the plugins of one build may register.
pub const MAX_PLUGIN_SECRETS: usize = 1000;
/// Derived forms (base64 fragments) shorter than this are not used: they would match by chance.
const MIN_DERIVED_LEN: usize = 8;

/// The set of byte strings to hide.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
    patterns: Vec<Vec<u8>>,
    matcher: Option<AhoCorasick>,
    max_len: usize,
}

impl Masker {
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let secrets: Vec<String> = secrets.into_iter().map(|s| s.as_ref().to_string()).collect();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for s in &secrets {
            if s.len() < MIN_SECRET_LEN {
                continue;
            }
            patterns.push(s.as_bytes().to_vec());
            for form in derived_forms(s.as_bytes()) {
                if form.len() >= MIN_DERIVED_LEN {
                    patterns.push(form);
                }
            }
        }
        patterns.sort();
        patterns.dedup();
        let matcher = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&patterns).ok()
        };
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        Masker { secrets, patterns, matcher, max_len }
    }

    /// This masker plus more values.
    pub fn with<S: AsRef<str>>(&self, more: &[S]) -> Self {
        Masker::new(self.secrets.iter().map(String::as_str).chain(more.iter().map(AsRef::as_ref)))
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Masks a whole string (an agent line, a command's text, a context message).
    pub fn mask_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(ac) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        if !ac.is_match(text) {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        let mut pos = 0;
        for m in ac.find_iter(text.as_bytes()) {
            out.extend_from_slice(&text.as_bytes()[pos..m.start()]);
            out.extend_from_slice(MASK);
            pos = m.end();
        }
        out.extend_from_slice(&text.as_bytes()[pos..]);
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }

    /// The first index at or after `from` where the rest of `data` could be the start of a
    /// secret cut off by the chunk boundary; `data.len()` when there is none.
    fn holdback_start(&self, data: &[u8], from: usize) -> usize {
        let earliest = data.len().saturating_sub(self.max_len.saturating_sub(1)).max(from);
        (earliest..data.len())
            .find(|&j| {
                let tail = &data[j..];
                self.patterns.iter().any(|p| p.len() > tail.len() && p.starts_with(tail))
            })
            .unwrap_or(data.len())
    }
}

/// Masking state for one output stream: bytes that might be the start of a secret are held back
/// until the next chunk (or the end of the command) decides.
#[derive(Debug, Default)]
pub struct MaskStream {
    pending: Vec<u8>,
}

impl MaskStream {
    /// Masks `bytes` and appends what can be shown now to `out`.
    pub fn push(&mut self, masker: &Masker, bytes: &[u8], out: &mut Vec<u8>) {
        let Some(ac) = &masker.matcher else {
            out.extend_from_slice(bytes);
            return;
        };
        self.pending.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.pending);
        let mut pos = 0;
        let mut hold = masker.holdback_start(&data, 0);
        for m in ac.find_iter(&data) {
            if m.start() >= hold {
                break;
            }
            out.extend_from_slice(&data[pos..m.start()]);
            out.extend_from_slice(MASK);
            pos = m.end();
            if pos > hold {
                hold = masker.holdback_start(&data, pos);
            }
        }
        let hold = hold.max(pos);
        out.extend_from_slice(&data[pos..hold]);
        self.pending.extend_from_slice(&data[hold..]);
    }

    /// Emits whatever is held back: the stream ended, so a partial secret is not a secret.
    pub fn flush(&mut self, masker: &Masker, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.pending);
        match &masker.matcher {
            None => out.extend_from_slice(&data),
            Some(ac) => {
                let mut pos = 0;
                for m in ac.find_iter(&data) {
                    out.extend_from_slice(&data[pos..m.start()]);
                    out.extend_from_slice(MASK);
                    pos = m.end();
                }
                out.extend_from_slice(&data[pos..]);
            }
        }
    }
}

/// base64 (standard and URL-safe, with and without padding, and the fragments that stay the same
/// whatever surrounds the value) and URL-encoded forms of a secret.
fn derived_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut forms = Vec::new();
    for engine in [&STANDARD, &URL_SAFE] {
        let full = engine.encode(secret);
        forms.push(full.trim_end_matches('=').as_bytes().to_vec());
        forms.push(full.into_bytes());
        // Inside a longer text the value starts at byte offset 0, 1 or 2 of a 3-byte group. The
        // groups made only of the value's bytes encode the same way whatever comes around it.
        for k in 0..3usize {
            let mut padded = vec![0u8; k];
            padded.extend_from_slice(secret);
            let enc = engine.encode(&padded);
            let first = if k == 0 { 0 } else { 4 };
            let last = 4 * (padded.len() / 3);
            if last > first {
                forms.push(enc.as_bytes()[first..last].to_vec());
            }
        }
    }
    for plus_for_space in [false, true] {
        let encoded = url_encode(secret, plus_for_space);
        if encoded.as_bytes() != secret {
            forms.push(encoded.into_bytes());
        }
    }
    forms
}

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const URL_RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encoding; optionally `+` for space (HTML forms).
fn url_encode(data: &[u8], plus_for_space: bool) -> String {
    let encoded = percent_encode(data, URL_RESERVED).to_string();
    if plus_for_space { encoded.replace("%20", "+") } else { encoded }
}

/// An [`EventSink`] that masks everything before passing it on.
pub struct MaskingSink<S: EventSink> {
    inner: S,
    masker: Masker,
    stream: MaskStream,
    buf: Vec<u8>,
}

impl<S: EventSink> MaskingSink<S> {
    pub fn new(inner: S, masker: Masker) -> Self {
        MaskingSink { inner, masker, stream: MaskStream::default(), buf: Vec::new() }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The masker as it is now, secrets registered during the build included.
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    fn flush(&mut self) {
        self.stream.flush(&self.masker, &mut self.buf);
        if !self.buf.is_empty() {
            self.inner.output(&self.buf);
            self.buf.clear();
        }
    }
}

impl<S: EventSink> EventSink for MaskingSink<S> {
    fn event(&mut self, event: BuildEvent<'_>) {
        // An agent line ends the output before it: release what was held back.
        self.flush();
        if let BuildEvent::Secrets(values) = event {
            self.masker = self.masker.with(values);
            return;
        }
        if self.masker.is_empty() {
            self.inner.event(event);
            return;
        }
        let m = &self.masker;
        match event {
            BuildEvent::Note(t) => self.inner.event(BuildEvent::Note(&m.mask_str(t))),
            BuildEvent::Warning(t) => self.inner.event(BuildEvent::Warning(&m.mask_str(t))),
            BuildEvent::CommandStarted(t) => self.inner.event(BuildEvent::CommandStarted(&m.mask_str(t))),
            BuildEvent::CommandFinished { command, outcome } => {
                self.inner.event(BuildEvent::CommandFinished { command: &m.mask_str(command), outcome })
            }
            BuildEvent::PhaseCompleted { phase, status, code, message } => self
                .inner
                .event(BuildEvent::PhaseCompleted { phase, status, code, message: &m.mask_str(message) }),
            BuildEvent::PluginStarted(t) => self.inner.event(BuildEvent::PluginStarted(&m.mask_str(t))),
            BuildEvent::PluginLog { level, message } => {
                self.inner.event(BuildEvent::PluginLog { level, message: &m.mask_str(message) })
            }
            BuildEvent::PluginFinished { plugin, digest, result } => {
                let plugin = m.mask_str(plugin);
                let text = m.mask_str(match result {
                    Ok(t) | Err(t) => t,
                });
                let result = if result.is_ok() { Ok(&*text) } else { Err(&*text) };
                self.inner.event(BuildEvent::PluginFinished { plugin: &plugin, digest, result })
            }
            other => self.inner.event(other),
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        if self.masker.is_empty() {
            self.inner.output(bytes);
            return;
        }
        self.stream.push(&self.masker, bytes, &mut self.buf);
        if !self.buf.is_empty() {
            self.inner.output(&self.buf);
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` cut at every possible pair of points and checks the masked result is the same.
    fn stream_all_splits(m: &Masker, text: &[u8]) -> Vec<u8> {
        let whole = {
            let mut s = MaskStream::default();
            let mut out = Vec::new();
            s.push(m, text, &mut out);
            s.flush(m, &mut out);
            out
        };
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let mut s = MaskStream::default();
                let mut out = Vec::new();
                for part in [&text[..i], &text[i..j], &text[j..]] {
                    s.push(m, part, &mut out);
                }
                s.flush(m, &mut out);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&whole),
                    "split at {i},{j}"
                );
            }
        }
        whole
    }

    #[test]
    fn masks_values_split_across_chunks() {
        let m = Masker::new(["hunter22", "s3cr3t-token"]);
        let out = stream_all_splits(&m, b"pw=hunter22 token=s3cr3t-token; hunter2 is fine\n");
        assert_eq!(out, b"pw=*** token=***; hunter2 is fine\n");
    }

    #[test]
    fn longest_secret_wins_and_overlaps_leak_nothing() {
        let m = Masker::new(["abcd", "abcdefgh", "efghijkl"]);
        assert_eq!(stream_all_splits(&m, b"xabcdefghijkly"), b"x***ijkly");
        assert_eq!(m.mask_str("abcdZ"), "***Z");
    }

    #[test]
    fn base64_and_url_forms_are_masked() {
        let secret = "p@ss word/with+chars";
        let m = Masker::new([secret]);
        let b64 = STANDARD.encode(secret);
        assert_eq!(m.mask_str(&b64), "***");
        // The value inside a longer encoded text, at each alignment.
        for prefix in ["", "a", "ab", "user:"] {
            let text = format!("{prefix}{secret}\n");
            let enc = STANDARD.encode(text);
            let masked = m.mask_str(&enc);
            assert!(masked.contains("***"), "{prefix:?}: {enc} → {masked}");
        }
        assert_eq!(m.mask_str("q=p%40ss%20word%2Fwith%2Bchars&x=1"), "q=***&x=1");
        assert_eq!(m.mask_str("q=p%40ss+word%2Fwith%2Bchars"), "q=***");
    }

    #[test]
    fn secrets_registered_by_an_event_are_masked_from_then_on() {
        use crate::engine::events::RecordingSink;
        let mut sink = MaskingSink::new(RecordingSink::default(), Masker::default());
        sink.event(BuildEvent::Secrets(&["fetched-value".to_string()]));
        sink.output(b"got fetched-value\n");
        assert_eq!(sink.into_inner().output, b"got ***\n");
    }

    #[test]
    fn short_values_are_not_masked() {
        let m = Masker::new(["no", "1"]);
        assert!(m.is_empty());
        assert_eq!(m.mask_str("no 1"), "no 1");
    }

    #[test]
    fn the_sink_masks_echoes_and_messages() {
        use crate::engine::events::RecordingSink;
        let mut sink = MaskingSink::new(RecordingSink::default(), Masker::new(["topsecret"]));
        sink.event(BuildEvent::CommandStarted("curl -u admin:topsecret x"));
        sink.output(b"tops");
        sink.output(b"ecret!\n");
        sink.event(BuildEvent::Note("done"));
        let rec = sink.into_inner();
        assert!(rec.lines[0].contains("admin:***"), "{:?}", rec.lines);
        assert_eq!(rec.output, b"***!\n");
    }
}
