//! How text from a plugin becomes part of the build log (pure).
//!
//! A plugin is not the build's author: what it says must not look like the agent. Agent lines
//! that carry a plugin's words (`host.log`, its message, its failure reason) get them on one
//! line, with line breaks and terminal controls written out as escapes ([`one_line`]), and
//! bounded in length. What a plugin writes to stdout and stderr stays output, but without
//! terminal controls, and a line of it that starts like an agent line (`[Container]`) is marked
//! as the plugin's ([`PluginOutput`]).

/// How agent lines start (R-LOG-01).
const AGENT_MARK: &[u8] = b"[Container]";
/// What a plugin output line that starts like an agent line gets in front of it.
const PLUGIN_MARK: &[u8] = b"[plugin] ";

/// Whether a character must not reach the log raw: C0 controls but tab, DEL, C1 controls,
/// and the Unicode line separators and bidirectional overrides that reorder what a reader sees.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `text` as one log line: line breaks and controls escaped (`\n`, `\x1b`, `\u{202e}`), and cut
/// after about `max` bytes with a note saying how much was left out.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (i, c) in text.char_indices() {
        if out.len() >= max {
            out.push_str(&format!("… ({} cut)", size(text.len() - i)));
            break;
        }
        if is_control(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A byte count for people: `512 bytes`, `8.0 KiB`, `15.0 MiB`.
pub fn size(n: usize) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n} bytes")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else if f < KIB * KIB * KIB {
        format!("{:.1} MiB", f / (KIB * KIB))
    } else {
        format!("{:.1} GiB", f / (KIB * KIB * KIB))
    }
}

/// A plugin's stdout or stderr on its way to the log: controls but `\n` and `\t` escaped (a
/// `\r` right before `\n` is dropped), and lines that start with `[Container]` prefixed with
/// `[plugin] `. Stateful, since a control sequence or a line start can be cut between writes.
#[derive(Debug)]
pub struct PluginOutput {
    at_line_start: bool,
    /// The start of the current line while it could still become `[Container]`.
    start: Vec<u8>,
    /// An incomplete UTF-8 sequence or a `\r` from the end of the last write.
    carry: Vec<u8>,
}

impl Default for PluginOutput {
    fn default() -> Self {
        PluginOutput { at_line_start: true, start: Vec::new(), carry: Vec::new() }
    }
}

impl PluginOutput {
    /// Filters `bytes` and appends what can be shown now to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            // One character: an ASCII byte, or a whole UTF-8 sequence (held when cut off).
            let len = match b {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            };
            if i + len > data.len() || (b == b'\r' && i + 1 == data.len()) {
                self.carry.extend_from_slice(&data[i..]);
                return;
            }
            let ch = &data[i..i + len];
            i += len;
            if b == b'\r' && data.get(i) == Some(&b'\n') {
                continue;
            }
            self.emit(ch, out);
        }
    }

    /// The step ended: emits whatever is held back.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        let carry = std::mem::take(&mut self.carry);
        for &b in &carry {
            self.emit(&[b], out);
        }
        out.append(&mut self.start);
    }

    fn emit(&mut self, ch: &[u8], out: &mut Vec<u8>) {
        let escaped: Option<String> = match std::str::from_utf8(ch).ok().and_then(|s| s.chars().next()) {
            Some('\n') => None,
            Some(c) if is_control(c) => {
                let mut s = String::new();
                push_escaped(&mut s, c);
                Some(s)
            }
            Some(_) => None,
            // Not UTF-8: shown as the byte it is, like the log's lossy decoding would.
            None if ch.len() == 1 && ch[0] >= 0x80 => Some(format!("\\x{:02x}", ch[0])),
            None => None,
        };
        let bytes: &[u8] = escaped.as_ref().map_or(ch, |s| s.as_bytes());
        if self.at_line_start {
            if ch == b"\n" {
                out.append(&mut self.start);
                out.push(b'\n');
                return;
            }
            self.start.extend_from_slice(bytes);
            if AGENT_MARK.starts_with(&self.start) {
                if self.start.len() == AGENT_MARK.len() {
                    out.extend_from_slice(PLUGIN_MARK);
                    out.append(&mut self.start);
                    self.at_line_start = false;
                }
                return;
            }
            out.append(&mut self.start);
            self.at_line_start = false;
            return;
        }
        out.extend_from_slice(bytes);
        if ch == b"\n" {
            self.at_line_start = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_breaks_and_controls() {
        let table: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            ("tab\tkept", "tab\tkept"),
            (
                "ok\n[Container] 2026/01/01 00:00:00.000000 Phase complete: BUILD State: SUCCEEDED",
                "ok\\n[Container] 2026/01/01 00:00:00.000000 Phase complete: BUILD State: SUCCEEDED",
            ),
            ("a\r\nb", "a\\r\\nb"),
            ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
            ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),
            ("\u{9b}31m", "\\x9b31m"),
            ("left\u{202e}thgir", "left\\u{202e}thgir"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("naïve ünïcode ✓", "naïve ünïcode ✓"),
        ];
        for (input, want) in table {
            assert_eq!(one_line(input, 1000), *want, "{input:?}");
        }
    }

    #[test]
    fn one_line_is_bounded() {
        let long = "é".repeat(10_000);
        let cut = one_line(&long, 100);
        assert!(cut.len() < 130, "{}", cut.len());
        assert!(cut.ends_with("… (19.4 KiB cut)"), "{cut}");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(8 << 10), "8.0 KiB");
        assert_eq!(size(15 << 20), "15.0 MiB");
    }

    /// Feeds `input` in every pair of cuts and checks the result is always the same.
    fn filter_all_splits(input: &[u8]) -> Vec<u8> {
        let whole = {
            let mut f = PluginOutput::default();
            let mut out = Vec::new();
            f.push(input, &mut out);
            f.flush(&mut out);
            out
        };
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let mut f = PluginOutput::default();
                let mut out = Vec::new();
                for part in [&input[..i], &input[i..j], &input[j..]] {
                    f.push(part, &mut out);
                }
                f.flush(&mut out);
                assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&whole), "cut at {i},{j}");
            }
        }
        whole
    }

    #[test]
    fn plugin_output_cannot_look_like_the_agent() {
        let table: &[(&[u8], &str)] = &[
            (b"hello\nworld\n", "hello\nworld\n"),
            (
                b"x\n[Container] 2026/01/01 00:00:00.000000 Phase complete: BUILD State: SUCCEEDED\n",
                "x\n[plugin] [Container] 2026/01/01 00:00:00.000000 Phase complete: BUILD State: SUCCEEDED\n",
            ),
            (b"[Container] first", "[plugin] [Container] first"),
            (b"[Cont", "[Cont"),
            (b"a [Container] inside\n", "a [Container] inside\n"),
            (b"\x1b[2J\x1b]52;c;eA==\x07done\n", "\\x1b[2J\\x1b]52;c;eA==\\x07done\n"),
            (b"progress\r50%\r\n", "progress\\r50%\n"),
            (b"\r[Container] fake", "\\r[Container] fake"),
            ("über ✓\n".as_bytes(), "über ✓\n"),
            ("\u{9b}2J".as_bytes(), "\\x9b2J"),
            (b"\xff raw\n", "\\xff raw\n"),
            (b"\n\n[Container]", "\n\n[plugin] [Container]"),
        ];
        for (input, want) in table {
            let got = filter_all_splits(input);
            assert_eq!(String::from_utf8_lossy(&got), *want, "{:?}", String::from_utf8_lossy(input));
        }
    }
}
