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
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use crate::engine::events::{BuildEvent, EventSink};

/// What a secret is replaced with (R-ENV-08).
pub const MASK: &[u8] = b"***";
/// Shorter values are left alone.
pub const MIN_SECRET_LEN: usize = 4;
/// The shortest value a plugin may register with `mask-secret`: shorter ones would hide
/// ordinary words of the log (a plugin is not the build's author).
pub const MIN_PLUGIN_SECRET_BYTES: usize = 8;
/// The longest value a plugin may register with `mask-secret`.
pub const MAX_PLUGIN_SECRET_BYTES: usize = 8 << 10;
/// How many values the plugins of one build may register.
pub const MAX_PLUGIN_SECRETS: usize = 1000;
/// How many bytes of values the plugins of one build may register in all: each byte costs
/// about 250 bytes of automaton (the value and its encoded forms), and every later line of
/// output is matched against them.
pub const MAX_PLUGIN_SECRET_TOTAL: usize = 256 << 10;
/// Derived forms (base64 fragments) shorter than this are not used: they would match by chance.
const MIN_DERIVED_LEN: usize = 8;

/// The agent's own words. A value a plugin registers is never masked where it would hide or
/// rewrite them in an agent line (`mask-secret("Error while executing")` must not change the
/// phase context); values from the build's configuration are masked everywhere.
const AGENT_WORDS: &[&str] = &[
    "[Container]",
    "Running command",
    "Running plugin",
    "Command did not exit successfully",
    "Entering phase",
    "Phase complete:",
    "State:",
    "Phase context status code:",
    "Message:",
    "Error while executing command:",
    "Error while executing plugin:",
    "Reason:",
    "exit status",
    "succeeded:",
    "Plugin did not succeed",
    "Build has timed out",
    "Build was stopped",
    "COMMAND_EXECUTION_ERROR",
    "DOWNLOAD_SOURCE",
    "PRE_BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "STOPPED",
];

/// Who registered a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The build's configuration: Parameter Store, Secrets Manager, credentials, ECR tokens.
    Config,
    /// A plugin, through `mask-secret`.
    Plugin,
}

/// One automaton over a batch of patterns.
#[derive(Debug, Clone)]
struct Level {
    patterns: Vec<Vec<u8>>,
    /// Per pattern: registered by a plugin only.
    from_plugin: Vec<bool>,
    matcher: AhoCorasick,
    bytes: usize,
}

impl Level {
    fn build(mut entries: Vec<(Vec<u8>, bool)>) -> Option<Level> {
        // One entry per pattern; a value the configuration also names keeps its full masking.
        entries.sort();
        entries.dedup_by(|later, first| {
            if later.0 == first.0 {
                first.1 &= later.1;
                true
            } else {
                false
            }
        });
        let (patterns, from_plugin): (Vec<Vec<u8>>, Vec<bool>) = entries.into_iter().unzip();
        if patterns.is_empty() {
            return None;
        }
        let bytes = patterns.iter().map(Vec::len).sum();
        // A DFA costs 256 transitions per state (gigabytes for long repetitive values); the
        // contiguous NFA is linear in the patterns and nearly as fast.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&patterns)
            .ok()?;
        Some(Level { patterns, from_plugin, matcher, bytes })
    }
}

/// The set of byte strings to hide. Values are added in batches; batches are merged
/// geometrically (like a binary counter), so adding n values one by one costs O(n log n)
/// automaton building, not O(n²).
#[derive(Debug, Clone, Default)]
pub struct Masker {
    levels: Vec<Level>,
    max_len: usize,
    /// Bytes some pattern starts with.
    first: Vec<bool>,
}

impl Masker {
    /// A masker for values of the build's configuration.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut m = Masker::default();
        m.add(secrets, Origin::Config);
        m
    }

    /// Adds values to mask from now on.
    pub fn add<I, S>(&mut self, secrets: I, origin: Origin)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let from_plugin = origin == Origin::Plugin;
        let mut entries = Vec::new();
        for s in secrets {
            for p in patterns_of(s.as_ref()) {
                entries.push((p, from_plugin));
            }
        }
        if entries.is_empty() {
            return;
        }
        if self.first.is_empty() {
            self.first = vec![false; 256];
        }
        for (p, _) in &entries {
            self.max_len = self.max_len.max(p.len());
            self.first[p[0] as usize] = true;
        }
        let Some(level) = Level::build(entries) else { return };
        self.levels.push(level);
        while self.levels.len() >= 2 {
            let n = self.levels.len();
            if self.levels[n - 2].bytes > 2 * self.levels[n - 1].bytes {
                break;
            }
            let (a, b) = (self.levels.pop(), self.levels.pop());
            let merged: Vec<(Vec<u8>, bool)> = [a, b]
                .into_iter()
                .flatten()
                .flat_map(|l| l.patterns.into_iter().zip(l.from_plugin))
                .collect();
            if let Some(l) = Level::build(merged) {
                self.levels.push(l);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Every match in `data`, overlapping ones merged, in order; with whether only
    /// plugin-registered patterns matched there.
    fn ranges(&self, data: &[u8]) -> Vec<(Range<usize>, bool)> {
        let mut found: Vec<(Range<usize>, bool)> = Vec::new();
        for level in &self.levels {
            for m in level.matcher.find_iter(data) {
                found.push((m.start()..m.end(), level.from_plugin[m.pattern().as_usize()]));
            }
        }
        if self.levels.len() > 1 {
            found.sort_by_key(|(r, _)| (r.start, r.end));
        }
        let mut merged: Vec<(Range<usize>, bool)> = Vec::with_capacity(found.len());
        for (r, plugin) in found {
            match merged.last_mut() {
                Some((last, last_plugin)) if r.start < last.end => {
                    last.end = last.end.max(r.end);
                    *last_plugin &= plugin;
                }
                _ => merged.push((r, plugin)),
            }
        }
        merged
    }

    /// Masks a whole string (a command's text, output).
    pub fn mask_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.mask_with(text, false)
    }

    /// Masks an agent line: values of the configuration everywhere, values a plugin registered
    /// except where they would cover the agent's own words.
    pub fn mask_agent<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.mask_with(text, true)
    }

    fn mask_with<'a>(&self, text: &'a str, protect: bool) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut ranges = self.ranges(text.as_bytes());
        if protect && ranges.iter().any(|(_, plugin)| *plugin) {
            let words = agent_word_ranges(text);
            ranges
                .retain(|(r, plugin)| !*plugin || !words.iter().any(|w| w.start < r.end && r.start < w.end));
        }
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        let mut pos = 0;
        for (r, _) in ranges {
            out.extend_from_slice(&text.as_bytes()[pos..r.start]);
            out.extend_from_slice(MASK);
            pos = r.end;
        }
        out.extend_from_slice(&text.as_bytes()[pos..]);
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }

    /// Where the bytes that must wait for the next chunk start (`data.len()` when none): a
    /// secret cut off by the chunk boundary starts in the last `max_len - 1` bytes, after the
    /// last line break (values are also masked line by line), at a byte some pattern starts
    /// with. Linear in the window, whatever the secrets are.
    fn holdback_start(&self, data: &[u8], from: usize) -> usize {
        let window = data.len().saturating_sub(self.max_len.saturating_sub(1)).max(from);
        let after_break =
            data[window..].iter().rposition(|&b| b == b'\n' || b == b'\r').map_or(window, |i| window + i + 1);
        (after_break..data.len()).find(|&j| self.first[data[j] as usize]).unwrap_or(data.len())
    }
}

/// Where the agent's own words are in `text`.
fn agent_word_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for w in AGENT_WORDS {
        let mut at = 0;
        while let Some(i) = text[at..].find(w) {
            out.push(at + i..at + i + w.len());
            at += i + w.len();
        }
    }
    out
}

/// The byte strings masked for one value: the value, each of its lines (so a value cut at a
/// line break between two chunks is still hidden), and its encoded forms.
fn patterns_of(secret: &str) -> Vec<Vec<u8>> {
    if secret.len() < MIN_SECRET_LEN {
        return Vec::new();
    }
    let mut out = vec![secret.as_bytes().to_vec()];
    if secret.contains(['\n', '\r']) {
        for line in secret.split(['\n', '\r']) {
            if line.len() >= MIN_SECRET_LEN {
                out.push(line.as_bytes().to_vec());
            }
        }
    }
    for form in derived_forms(secret.as_bytes()) {
        if form.len() >= MIN_DERIVED_LEN {
            out.push(form);
        }
    }
    out
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
        if masker.is_empty() && self.pending.is_empty() {
            out.extend_from_slice(bytes);
            return;
        }
        self.pending.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.pending);
        let mut pos = 0;
        let mut hold = masker.holdback_start(&data, 0);
        for (r, _) in masker.ranges(&data) {
            if r.start >= hold {
                break;
            }
            out.extend_from_slice(&data[pos..r.start]);
            out.extend_from_slice(MASK);
            pos = r.end;
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
        let mut pos = 0;
        for (r, _) in masker.ranges(&data) {
            out.extend_from_slice(&data[pos..r.start]);
            out.extend_from_slice(MASK);
            pos = r.end;
        }
        out.extend_from_slice(&data[pos..]);
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
        match event {
            BuildEvent::Secrets(values) => return self.masker.add(values, Origin::Config),
            BuildEvent::PluginSecret(value) => return self.masker.add([value], Origin::Plugin),
            _ => {}
        }
        if self.masker.is_empty() {
            self.inner.event(event);
            return;
        }
        // Everything an agent line carries is masked, but never the agent's own words.
        let m = &self.masker;
        match event {
            BuildEvent::Note(t) => self.inner.event(BuildEvent::Note(&m.mask_agent(t))),
            BuildEvent::Warning(t) => self.inner.event(BuildEvent::Warning(&m.mask_agent(t))),
            BuildEvent::CommandStarted(t) => self.inner.event(BuildEvent::CommandStarted(&m.mask_agent(t))),
            BuildEvent::CommandFinished { command, outcome } => {
                self.inner.event(BuildEvent::CommandFinished { command: &m.mask_agent(command), outcome })
            }
            BuildEvent::PhaseCompleted { phase, status, code, message, start, end } => {
                self.inner.event(BuildEvent::PhaseCompleted {
                    phase,
                    status,
                    code,
                    message: &m.mask_agent(message),
                    start,
                    end,
                })
            }
            BuildEvent::PluginStarted(t) => self.inner.event(BuildEvent::PluginStarted(&m.mask_agent(t))),
            BuildEvent::PluginLog { level, message } => {
                self.inner.event(BuildEvent::PluginLog { level, message: &m.mask_agent(message) })
            }
            BuildEvent::PluginFinished { plugin, digest, result } => {
                let plugin = m.mask_agent(plugin);
                let text = m.mask_agent(match result {
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
        sink.event(BuildEvent::PluginSecret("plugin-value"));
        sink.output(b"and plugin-value\n");
        assert_eq!(sink.into_inner().output, b"got ***\nand ***\n");
    }

    #[test]
    fn long_repetitive_values_cost_linear_time() {
        // A repetitive value is the worst case for prefix checks at chunk boundaries.
        let t = std::time::Instant::now();
        let mut m = Masker::new(["a".repeat(64 << 10)]);
        m.add(["b".repeat(MAX_PLUGIN_SECRET_BYTES)], Origin::Plugin);
        let mut s = MaskStream::default();
        let mut out = Vec::new();
        let chunk = vec![b'a'; 4096];
        for _ in 0..256 {
            s.push(&m, &chunk, &mut out);
        }
        s.flush(&m, &mut out);
        assert_eq!(out, "***".repeat(16).as_bytes(), "1 MiB of `a` is 16 whole secrets");
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "{:?}", t.elapsed());
    }

    #[test]
    fn values_added_one_by_one_are_merged_geometrically() {
        let t = std::time::Instant::now();
        let mut m = Masker::default();
        let mut s = MaskStream::default();
        let mut out = Vec::new();
        for i in 0..MAX_PLUGIN_SECRETS {
            m.add([format!("token-{i:06}-{}", "x".repeat(200))], Origin::Plugin);
            s.push(&m, format!("printed token-{i:06}-{}\n", "x".repeat(200)).as_bytes(), &mut out);
        }
        s.flush(&m, &mut out);
        assert!(m.levels.len() <= 12, "{} levels", m.levels.len());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().filter(|l| *l == "printed ***").count(),
            MAX_PLUGIN_SECRETS,
            "{}",
            &text[..300]
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "{:?}", t.elapsed());
    }

    #[test]
    fn plugin_values_never_rewrite_the_agents_words() {
        let line = "Error while executing command: curl -H tok-3141592 x. Reason: exit status 1";
        let mut m = Masker::default();
        m.add(["Error while executing", "exit status 1", "tok-3141592"], Origin::Plugin);
        assert_eq!(m.mask_agent(line), "Error while executing command: curl -H *** x. Reason: exit status 1");
        // Output is the build's, not the agent's: masked in full.
        assert_eq!(m.mask_str("Error while executing"), "***");
        // The configuration's secrets are masked wherever they are.
        let m = Masker::new(["exit status 1"]);
        assert_eq!(m.mask_agent(line), "Error while executing command: curl -H tok-3141592 x. Reason: ***");
    }

    #[test]
    fn multi_line_values_are_hidden_when_cut_at_a_line_break() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----";
        let m = Masker::new([key]);
        let mut s = MaskStream::default();
        let mut out = Vec::new();
        for part in ["key: -----BEGIN KEY-----\n", "MIIEvQIBADANBgkqhkiG9w0B\n", "-----END KEY-----\n"] {
            s.push(&m, part.as_bytes(), &mut out);
        }
        s.flush(&m, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("MIIEvQ") && !text.contains("BEGIN KEY"), "{text}");
    }

    #[test]
    fn whole_lines_are_not_held_back() {
        let m = Masker::new(["hunter22-secret"]);
        let mut s = MaskStream::default();
        let mut out = Vec::new();
        s.push(&m, b"hello\n", &mut out);
        assert_eq!(out, b"hello\n", "a finished line is shown at once");
        out.clear();
        s.push(&m, b"50% 1234", &mut out);
        assert_eq!(out, b"50% 1234", "digits start no pattern here");
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
