//! The one pipe every command of a build writes into, and the loop that streams it while a
//! command runs. Shared by the host and Docker executors.
//!
//! A command is finished when its process exits, not when the pipe closes: the agent keeps the
//! pipe open for the whole build, so background processes (`nohup dockerd &`) outlive their
//! command and are not waited for (R-SH-07), and their later output still reaches the log. After
//! an exit the pipe is drained, so a command's last bytes always come before the next log line.

use std::future::Future;
use std::io;

use tokio::net::unix::pipe;

use super::debug::Breakpoints;
use super::{Stop, StopReason};

/// How [`OutputPipe::stream_until`] ended.
pub enum Streamed<T> {
    Done(T),
    Stopped(StopReason),
    /// This many commands are waiting in `codebuild-breakpoint`.
    Breakpoint(usize),
}
use crate::engine::events::EventSink;

/// Bytes read from the pipe at once.
const READ_CHUNK: usize = 256 * 1024;
/// Bytes read in one go before checking for an exit or a timeout again.
const STREAM_BURST: usize = 4 * READ_CHUNK;

pub struct OutputPipe {
    reader: pipe::Receiver,
    buf: Vec<u8>,
    capacity: usize,
}

impl OutputPipe {
    /// Wraps the read end of a pipe (or FIFO) and the pipe's capacity in bytes.
    pub fn new(reader: pipe::Receiver, capacity: usize) -> Self {
        OutputPipe { reader, buf: vec![0; READ_CHUNK], capacity }
    }

    /// Reads what is in the pipe right now, at most `limit` bytes, so a process that never stops
    /// writing cannot keep the agent from noticing an exit or a timeout.
    pub fn drain(&mut self, sink: &mut dyn EventSink, limit: usize) {
        let mut read = 0;
        while read < limit {
            match self.reader.try_read(&mut self.buf) {
                Ok(0) => return,
                Ok(n) => {
                    read += n;
                    sink.output(&self.buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// Everything a process wrote before it exited is in the pipe, which holds at most its
    /// capacity; background writers cannot stretch this.
    pub fn drain_after_exit(&mut self, sink: &mut dyn EventSink) {
        self.drain(sink, self.capacity + READ_CHUNK);
    }

    /// Streams output until `done` resolves (the command exited), `stop` fires, or a command
    /// reaches `codebuild-breakpoint` (when `breaks` is given). After a breakpoint, call again
    /// with the same (pinned) `done` to go on.
    pub async fn stream_until<T>(
        &mut self,
        done: impl Future<Output = T>,
        sink: &mut dyn EventSink,
        stop: &mut Stop,
        mut breaks: Option<&mut Breakpoints>,
    ) -> io::Result<Streamed<T>> {
        tokio::pin!(done);
        loop {
            tokio::select! {
                biased;
                ready = self.reader.readable() => {
                    ready?;
                    self.drain(sink, STREAM_BURST);
                }
                value = &mut done => {
                    self.drain_after_exit(sink);
                    return Ok(Streamed::Done(value));
                }
                reason = stop.wait() => return Ok(Streamed::Stopped(reason)),
                count = async {
                    match breaks.as_deref_mut() {
                        Some(b) => b.requested().await,
                        None => std::future::pending().await,
                    }
                } => {
                    // What the command printed before it paused comes first.
                    self.drain(sink, self.capacity);
                    return Ok(Streamed::Breakpoint(count?));
                }
            }
        }
    }

    /// Streams output while `done` resolves, without a stop (used while a killed command dies).
    pub async fn stream_while<T>(&mut self, done: impl Future<Output = T>, sink: &mut dyn EventSink) -> T {
        tokio::pin!(done);
        loop {
            tokio::select! {
                biased;
                _ = self.reader.readable() => self.drain(sink, STREAM_BURST),
                value = &mut done => {
                    self.drain_after_exit(sink);
                    return value;
                }
            }
        }
    }
}
