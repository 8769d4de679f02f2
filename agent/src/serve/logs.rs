//! Build logs kept by the service: one file per build, each line stored with the time it was
//! written (`<epoch ms>\t<line>`), appended as the build runs (already masked: the engine's
//! masking sink is in front). Read back as CloudWatch Logs events for `GetLogEvents` and
//! `FilterLogEvents`, and as plain text for the web page.

use std::fs;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A writer that puts the current time in front of every line.
pub struct StampedLines {
    out: io::BufWriter<fs::File>,
    at_line_start: bool,
}

impl StampedLines {
    /// Opens (or makes) a log for appending: the file 0600 and its directory 0700, whatever the
    /// umask (a log may hold what a build printed).
    pub fn create(path: &Path) -> io::Result<StampedLines> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let file = fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(StampedLines { out: io::BufWriter::new(file), at_line_start: true })
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
        let stamp = now_ms();
        for piece in buf.split_inclusive(|b| *b == b'\n') {
            if self.at_line_start {
                write!(self.out, "{stamp}\t")?;
            }
            self.out.write_all(piece)?;
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

/// Complete lines from byte `from` on, at most `limit`; a line still being written is left for
/// the next call.
pub fn read(path: &Path, from: u64, limit: usize) -> io::Result<Vec<Event>> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(from))?;
    let mut reader = io::BufReader::new(file.take(u64::MAX));
    let mut out = Vec::new();
    let mut offset = from;
    let mut line = Vec::new();
    while out.len() < limit {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || !line.ends_with(b"\n") {
            break;
        }
        offset += n as u64;
        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
        let (stamp, message) = text.split_once('\t').unwrap_or(("0", &text));
        out.push(Event { timestamp: stamp.parse().unwrap_or(0), message: message.to_string(), next: offset });
    }
    Ok(out)
}

/// The last `limit` complete lines (GetLogEvents without startFromHead), and the offset of the
/// first of them.
pub fn tail(path: &Path, limit: usize) -> io::Result<(u64, Vec<Event>)> {
    let all = read(path, 0, usize::MAX)?;
    let skip = all.len().saturating_sub(limit);
    let start = if skip == 0 { 0 } else { all[skip - 1].next };
    Ok((start, all.into_iter().skip(skip).collect()))
}

/// The log as text without the stamps, from byte `from`; returns the next offset.
pub fn text(path: &Path, from: u64) -> io::Result<(String, u64)> {
    let events = read(path, from, usize::MAX)?;
    let next = events.last().map_or(from, |e| e.next);
    let mut out = String::new();
    for e in events {
        out.push_str(&e.message);
        out.push('\n');
    }
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
        let (start, last) = tail(&p, 1).unwrap();
        assert_eq!(last[0].message, "three");
        assert_eq!(read(&p, start, 10).unwrap()[0].message, "three");
        assert_eq!(text(&p, 0).unwrap().0, "one\ntwo\nthree\n");
        assert!(read(&dir.path().join("none.log"), 0, 10).unwrap().is_empty());
    }
}
