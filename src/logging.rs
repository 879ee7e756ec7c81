//! How the monitor logs: lines go to standard output through a thread of their own,
//! so that logging never blocks and never fails the code that logs; durations are
//! shown as a person reads them.
//!
//! An event is formatted on the thread that logs it and handed over through a bounded
//! queue. When the output is a closed pipe (a dead log shipper, `overdue | head`) the
//! writer thread drops what it cannot write; when it is a full pipe nobody reads, the
//! writer thread waits and the queue fills, and further lines are dropped rather than
//! waited for. A signal handler, a request or the shutdown path that logs a line
//! therefore goes on whatever happens to the output.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// A duration as a log field in milliseconds, to the microsecond (`2.891`): finer
/// digits are noise to a reader.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Whether human-readable logs are coloured: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>).
pub fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Lines waiting for the writer thread at most; beyond, new lines are dropped.
const QUEUE_LINES: usize = 4096;

/// What the writer thread receives.
enum Message {
    Line(Vec<u8>),
    /// Everything before has been written (or dropped): answer on the sender.
    Flush(SyncSender<()>),
}

/// A [`MakeWriter`] for `tracing_subscriber` that queues each event for the writer
/// thread; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// Flushes what is queued when dropped, waiting a bounded time: at the end of `main`,
/// so that the last lines ("stopped") are written when the output takes them.
pub struct FlushOnDrop {
    queue: SyncSender<Message>,
    timeout: Duration,
}

impl LogWriter {
    /// A writer to standard output, and the guard that flushes it at exit.
    pub fn stdout() -> io::Result<(Self, FlushOnDrop)> {
        Self::spawn(io::stdout)
    }

    /// A writer to what `open` returns (standard output, or a test's pipe), written by a
    /// new thread.
    pub fn spawn<W, F>(open: F) -> io::Result<(Self, FlushOnDrop)>
    where
        W: Write,
        F: FnOnce() -> W + Send + 'static,
    {
        let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer_dropped = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("overdue-log".into())
            .spawn(move || write_lines(open(), &lines, &writer_dropped))?;
        let guard = FlushOnDrop {
            queue: queue.clone(),
            timeout: Duration::from_secs(1),
        };
        Ok((Self { queue, dropped }, guard))
    }

    /// Lines dropped so far: not written because the output refused them or was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Writes lines until every sender is gone. A line the output refuses is dropped; the
/// error is not reported anywhere, as the only place to report it is the log itself.
fn write_lines<W: Write>(mut out: W, lines: &Receiver<Message>, dropped: &AtomicU64) {
    for message in lines {
        match message {
            Message::Line(line) => {
                if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.try_send(());
            }
        }
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            buffer: Vec::new(),
            writer: self.clone(),
        }
    }
}

/// One event's bytes; queued as one line when the formatter is done with it.
pub struct LogLine {
    buffer: Vec<u8>,
    writer: LogWriter,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buffer);
        if self.writer.queue.try_send(Message::Line(line)).is_err() {
            self.writer.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.timeout;
        let (done, flushed) = mpsc::sync_channel(1);
        let mut message = Message::Flush(done);
        // The queue may be full behind a stuck output: retry until the deadline, never
        // longer.
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        // Whether flushed or timed out, exit goes on.
        let _ = flushed.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that refuses every write, like a closed pipe.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    /// An output that never returns from a write, like a full pipe nobody reads.
    struct Stuck(Receiver<()>);

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log(writer: &LogWriter, text: &str) {
        let mut line = writer.make_writer();
        line.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn durations_are_shown_to_the_microsecond() {
        assert_eq!(millis(Duration::from_nanos(2_891_234)), 2.891);
        assert_eq!(millis(Duration::from_nanos(2_891_600)), 2.892);
        assert_eq!(millis(Duration::from_secs(3)), 3000.0);
        assert_eq!(millis(Duration::ZERO), 0.0);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsStr::new(""))));
    }

    #[test]
    fn lines_reach_the_output_in_order_and_the_guard_flushes_them() {
        let (sink, read) = mpsc::channel::<Vec<u8>>();
        struct Collect(mpsc::Sender<Vec<u8>>);
        impl Write for Collect {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                let _ = self.0.send(bytes.to_vec());
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (writer, guard) = LogWriter::spawn(move || Collect(sink)).unwrap();
        log(&writer, "one\n");
        log(&writer, "two\n");
        drop(guard);
        let written: Vec<u8> = read.try_iter().flatten().collect();
        assert_eq!(written, b"one\ntwo\n");
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn a_closed_output_drops_lines_without_failing_the_caller() {
        let (writer, guard) = LogWriter::spawn(|| Closed).unwrap();
        for _ in 0..10 {
            log(&writer, "lost\n");
        }
        drop(guard);
        assert_eq!(writer.dropped(), 10);
    }

    #[test]
    fn a_stuck_output_never_blocks_the_caller_nor_the_guard_for_long() {
        let (release, stuck) = mpsc::channel();
        let (writer, guard) = LogWriter::spawn(move || Stuck(stuck)).unwrap();
        let started = Instant::now();
        for _ in 0..QUEUE_LINES * 2 {
            log(&writer, "waiting\n");
        }
        assert!(writer.dropped() >= QUEUE_LINES as u64 - 1);
        drop(guard);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        drop(release);
    }
}
