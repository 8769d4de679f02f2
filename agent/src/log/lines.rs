//! A writer that hands on whole lines: what a build writes in pieces (a command's output arrives
//! as the pipe gives it) reaches `each` one complete line at a time, so lines of builds running
//! side by side never interleave mid-line. What is left without a newline is handed on when
//! the writer is dropped.

use std::io::Write;

pub struct Lines<F: FnMut(&[u8])> {
    each: F,
    partial: Vec<u8>,
}

impl<F: FnMut(&[u8])> Lines<F> {
    /// `each` gets every line without its `\n`.
    pub fn new(each: F) -> Self {
        Lines { each, partial: Vec::new() }
    }
}

impl<F: FnMut(&[u8])> Write for Lines<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        if let Some(last) = self.partial.iter().rposition(|b| *b == b'\n') {
            let complete: Vec<u8> = self.partial.drain(..=last).collect();
            for line in complete[..complete.len() - 1].split(|b| *b == b'\n') {
                (self.each)(line);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<F: FnMut(&[u8])> Drop for Lines<F> {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            (self.each)(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_only_and_the_rest_at_the_end() {
        let mut got = Vec::new();
        {
            let mut w = Lines::new(|l: &[u8]| got.push(String::from_utf8_lossy(l).into_owned()));
            w.write_all(b"one\ntw").unwrap();
            w.write_all(b"o\n\nthree").unwrap();
        }
        assert_eq!(got, ["one", "two", "", "three"]);
    }
}
