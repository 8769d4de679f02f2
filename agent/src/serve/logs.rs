//! Build logs kept by the service: one file per build, each line stored with the time it was
//! written (`<epoch ms>\t<line>`), appended as the build runs (already masked: the engine's
//! masking sink is in front). Read back as CloudWatch Logs events for `GetLogEvents` and
//! `FilterLogEvents`, and as plain text for the web page, a page at a time: a read never holds
//! more than its page, whatever the log's size ([`PAGE_BYTES`], [`EVENT_BYTES`]). A build's log
//! is kept up to [`MAX_LOG_BYTES`]; what a build prints beyond it is dropped, and the log says so.

use std::fs;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most a build's log keeps (CloudWatch keeps more, but a server's disk is not CloudWatch).
pub const MAX_LOG_BYTES: u64 = 256 << 20;
/// The most one read returns (CloudWatch's GetLogEvents answers at most 1 MB).
pub const PAGE_BYTES: usize = 1 << 20;
/// The longest event (CloudWatch's limit is 256 KiB); a longer line is cut, with `…`.
pub const EVENT_BYTES: usize = 256 << 10;

/// A writer that puts the current time in front of every line, up to [`MAX_LOG_BYTES`].
pub struct StampedLines {
    out: io::BufWriter<fs::File>,
    at_line_start: bool,
    written: u64,
    limit: u64,
    full: bool,
}

impl StampedLines {
    /// Opens (or makes) a log for appending: the file 0600 and its directory 0700, whatever the
    /// umask (a log may hold what a build printed).
    pub fn create(path: &Path) -> io::Result<StampedLines> {
        StampedLines::with_limit(path, MAX_LOG_BYTES)
    }

    pub fn with_limit(path: &Path, limit: u64) -> io::Result<StampedLines> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let file = fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        let written = file.metadata()?.len();
        Ok(StampedLines { out: io::BufWriter::new(file), at_line_start: true, written, limit, full: false })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Write for StampedLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.full {
            return Ok(buf.len());
        }
        let stamp = now_ms();
        for piece in buf.split_inclusive(|b| *b == b'\n') {
            // Room is kept for the stamp and for the line that says the log is full.
            if self.written + piece.len() as u64 + 256 > self.limit {
                let end = if self.at_line_start { "" } else { "\n" };
                let note = format!(
                    "{end}{stamp}\t[runspec] The build log reached its limit of {} MiB; the rest of the build's output is not kept\n",
                    self.limit >> 20
                );
                self.out.write_all(note.as_bytes())?;
                self.out.flush()?;
                self.full = true;
                return Ok(buf.len());
            }
            let mut n = piece.len() as u64;
            if self.at_line_start {
                let s = format!("{stamp}\t");
                self.out.write_all(s.as_bytes())?;
                n += s.len() as u64;
            }
            self.out.write_all(piece)?;
            self.written += n;
            self.at_line_start = piece.ends_with(b"\n");
        }
        // Readers (GetLogEvents, the page) see each write as it happens.
        self.out.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One CloudWatch Logs event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub timestamp: u64,
    pub message: String,
    /// Byte offset of the line after this one (the forward token).
    pub next: u64,
}

/// Where a build's log lives.
pub fn path(dir: &Path, uuid: &str) -> PathBuf {
    dir.join(format!("{uuid}.log"))
}

fn open(path: &Path) -> io::Result<Option<fs::File>> {
    match fs::File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `offset` is where a line of the log starts (or its end): what a token this
/// server gave always is.
pub fn is_line_start(path: &Path, offset: u64) -> io::Result<bool> {
    if offset == 0 {
        return Ok(true);
    }
    let Some(mut file) = open(path)? else { return Ok(false) };
    if offset > file.metadata()?.len() {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(offset - 1))?;
    let mut b = [0u8];
    file.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

/// Reads one line (up to and without its `\n`) keeping at most `keep` bytes of it; the bytes
/// consumed, or `None` at a line still being written (or the end).
fn line(reader: &mut impl BufRead, keep: usize, into: &mut Vec<u8>) -> io::Result<Option<u64>> {
    into.clear();
    let mut consumed = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = keep.saturating_sub(into.len());
        into.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        consumed += used as u64;
        if done.is_some() {
            return Ok(Some(consumed));
        }
    }
}

fn event(raw: &[u8], next: u64, cut: bool) -> Event {
    let text = String::from_utf8_lossy(raw);
    let (stamp, message) = text.split_once('\t').unwrap_or(("0", &text));
    let mut message = message.to_string();
    if cut || message.len() > EVENT_BYTES {
        let mut end = EVENT_BYTES.min(message.len());
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    Event { timestamp: stamp.parse().unwrap_or(0), message, next }
}

/// Complete lines from byte `from` on, at most `limit` of them and about [`PAGE_BYTES`]; a line
/// still being written is left for the next call.
pub fn read(path: &Path, from: u64, limit: usize) -> io::Result<Vec<Event>> {
    let mut out = Vec::new();
    scan(path, from, PAGE_BYTES as u64, &mut |e| {
        out.push(e);
        out.len() < limit
    })?;
    Ok(out)
}

/// Calls `each` with the complete lines from byte `from` on, until it says stop or `budget`
/// bytes were read; returns where it stopped. Holds one line at a time.
pub fn scan(path: &Path, from: u64, budget: u64, each: &mut dyn FnMut(Event) -> bool) -> io::Result<u64> {
    let Some(mut file) = open(path)? else { return Ok(from) };
    if from > file.metadata()?.len() {
        return Ok(from);
    }
    file.seek(SeekFrom::Start(from))?;
    let mut reader = io::BufReader::new(file);
    let mut offset = from;
    let mut raw = Vec::new();
    while offset - from < budget {
        let Some(n) = line(&mut reader, EVENT_BYTES + 32, &mut raw)? else { break };
        offset += n;
        let cut = n as usize > EVENT_BYTES + 33;
        if !each(event(&raw, offset, cut)) {
            break;
        }
    }
    Ok(offset)
}

/// The complete lines before byte `end` (the file's end when `None`): at most `limit` of them
/// and about [`PAGE_BYTES`], and the offset of the first. Read backwards a block at a time.
pub fn before(path: &Path, end: Option<u64>, limit: usize) -> io::Result<(u64, Vec<Event>)> {
    let Some(mut file) = open(path)? else { return Ok((0, Vec::new())) };
    let len = file.metadata()?.len();
    // Only complete lines: the end is the last newline at or before it.
    let mut end = end.unwrap_or(len).min(len);
    let block = 64 << 10;
    let mut starts: Vec<u64> = Vec::new();
    let mut pos = end;
    let mut buf = vec![0u8; block];
    let mut trimmed = false;
    while pos > 0 && starts.len() <= limit && end - pos < PAGE_BYTES as u64 {
        let from = pos.saturating_sub(block as u64);
        let n = (pos - from) as usize;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut buf[..n])?;
        for i in (0..n).rev() {
            if buf[i] == b'\n' {
                let at = from + i as u64 + 1;
                if !trimmed {
                    trimmed = true;
                    end = at;
                    continue;
                }
                starts.push(at);
                if starts.len() > limit {
                    break;
                }
            }
        }
        pos = from;
    }
    if !trimmed {
        // No complete line before `end`.
        return Ok((0, Vec::new()));
    }
    if pos == 0 && starts.len() <= limit {
        starts.push(0);
    }
    starts.sort_unstable();
    starts.dedup();
    let keep = starts.len().min(limit);
    let first = starts[starts.len() - keep..].first().copied().unwrap_or(end);
    let mut events = Vec::new();
    scan(path, first, end - first, &mut |e| {
        let go_on = e.next < end;
        events.push(e);
        go_on
    })?;
    Ok((first, events))
}

/// The log as text without the stamps, from byte `from`, about [`PAGE_BYTES`] of it; returns
/// the next offset.
pub fn text(path: &Path, from: u64) -> io::Result<(String, u64)> {
    let mut out = String::new();
    let next = scan(path, from, PAGE_BYTES as u64, &mut |e| {
        out.push_str(&e.message);
        out.push('\n');
        true
    })?;
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_stamped_and_read_back_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "u");
        let mut w = StampedLines::create(&p).unwrap();
        w.write_all(b"one\ntw").unwrap();
        let first = read(&p, 0, 100).unwrap();
        assert_eq!(
            first.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["one"],
            "half a line waits"
        );
        w.write_all(b"o\nthree\n").unwrap();
        let rest = read(&p, first[0].next, 100).unwrap();
        assert_eq!(rest.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["two", "three"]);
        assert!(rest[0].timestamp > 1_700_000_000_000);
        assert_eq!(read(&p, 0, 2).unwrap().len(), 2);
        let (start, last) = before(&p, None, 1).unwrap();
        assert_eq!(last[0].message, "three");
        assert_eq!(read(&p, start, 10).unwrap()[0].message, "three");
        let (start, two) = before(&p, Some(rest[1].next), 2).unwrap();
        assert_eq!(two.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["two", "three"]);
        assert_eq!(start, first[0].next);
        let (_, all) = before(&p, None, 100).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(text(&p, 0).unwrap().0, "one\ntwo\nthree\n");
        assert!(read(&dir.path().join("none.log"), 0, 10).unwrap().is_empty());
        assert!(is_line_start(&p, first[0].next).unwrap());
        assert!(!is_line_start(&p, first[0].next + 1).unwrap());
        assert!(!is_line_start(&p, u64::MAX).unwrap());
    }

    #[test]
    fn a_huge_line_is_cut_and_pages_stay_small() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "u");
        let mut w = StampedLines::create(&p).unwrap();
        w.write_all(&vec![b'x'; 3 << 20]).unwrap();
        w.write_all(b"\nafter\n").unwrap();
        let events = read(&p, 0, 10).unwrap();
        assert!(events[0].message.len() <= EVENT_BYTES + 4, "{}", events[0].message.len());
        assert!(events[0].message.ends_with('…'));
        // The page ended with the long line; the next one starts after it.
        assert_eq!(events.len(), 1);
        assert_eq!(read(&p, events[0].next, 10).unwrap()[0].message, "after");
        let (_, last) = before(&p, None, 10_000).unwrap();
        assert_eq!(last.last().unwrap().message, "after");
    }

    #[test]
    fn a_log_stops_at_its_limit_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "u");
        let mut w = StampedLines::with_limit(&p, 4 << 20).unwrap();
        for _ in 0..100_000 {
            w.write_all(b"a line of output that goes on\n").unwrap();
        }
        let size = std::fs::metadata(&p).unwrap().len();
        assert!(size <= 4 << 20, "{size}");
        let (_, last) = before(&p, None, 1).unwrap();
        assert!(last[0].message.contains("reached its limit of 4 MiB"), "{}", last[0].message);
    }
}
