//! Where the proxy's log lines go: JSON lines on stdout, written by a thread of their own.
//!
//! The access log line is written before the response is handed back, so a synchronous
//! `write(2)` per line would sit on every request's latency, and a stall of the disk behind
//! stdout (milliseconds on a busy machine) would stall a runtime worker and every request on it.
//! Here a request only moves its formatted line into a bounded queue; the writer thread drains
//! the queue in batches (one write for many lines) and sleeps a few milliseconds between
//! batches, so it is woken at most a few hundred times a second however busy the proxy is.
//!
//! Nothing is dropped: a line is either written or, when the queue is full (the disk cannot keep
//! up), its request waits for room, exactly as it waited for the write before. Lines are never
//! split or interleaved. What a line contains is unchanged: the same formatter produces it, so
//! tokens still never reach the log. [`LogGuard::flush`] (at shutdown) writes out what is queued.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait in the queue (about 300 bytes each) before a request waits for room.
pub const QUEUE_LINES: usize = 16_384;

/// How long the writer thread rests after writing a batch, so a steady stream of requests
/// costs a wake-up per batch instead of one per line.
pub const BATCH_PAUSE: Duration = Duration::from_millis(10);

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// A [`MakeWriter`] whose writers hand each finished line to the writer thread.
#[derive(Clone)]
pub struct QueuedWriter {
    queue: SyncSender<Message>,
}

/// Writes out what is queued; keep it until the process is about to exit.
#[derive(Clone)]
pub struct LogGuard {
    queue: SyncSender<Message>,
}

/// Starts the writer thread for `out`. The thread lives as long as the process (the global
/// subscriber keeps a [`QueuedWriter`]); call [`LogGuard::flush`] before exiting.
pub fn queued<W: Write + Send + 'static>(out: W) -> io::Result<(QueuedWriter, LogGuard)> {
    let (queue, lines) = sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || pump(&lines, out, BATCH_PAUSE))?;
    Ok((
        QueuedWriter {
            queue: queue.clone(),
        },
        LogGuard { queue },
    ))
}

fn pump<W: Write>(lines: &Receiver<Message>, out: W, pause: Duration) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    // Blocks only while idle; then writes everything queued, flushes, and rests.
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        let mut acks = Vec::new();
        while let Some(message) = next.take() {
            match message {
                // A failing stdout cannot be reported anywhere; the line is lost, not the proxy.
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(ack) => acks.push(ack),
            }
            next = match lines.try_recv() {
                Ok(message) => Some(message),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => break,
            };
        }
        let _ = out.flush();
        for ack in acks {
            let _ = ack.send(());
        }
        std::thread::sleep(pause);
    }
    let _ = out.flush();
}

impl LogGuard {
    /// Waits (at most `timeout`) until every line queued before this call is written out.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack, done) = sync_channel(1);
        if self.queue.send(Message::Flush(ack)).is_err() {
            return false;
        }
        done.recv_timeout(timeout).is_ok()
    }
}

/// One log line being formatted; queued whole when dropped.
pub struct QueuedLine {
    queue: SyncSender<Message>,
    line: Vec<u8>,
}

impl Write for QueuedLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedLine {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            // Blocks while the queue is full: back-pressure, never a lost line. Fails only if
            // the writer thread is gone, and then there is nowhere to write anyway.
            let _ = self
                .queue
                .send(Message::Line(std::mem::take(&mut self.line)));
        }
    }
}

impl<'a> MakeWriter<'a> for QueuedWriter {
    type Writer = QueuedLine;

    fn make_writer(&'a self) -> Self::Writer {
        QueuedLine {
            queue: self.queue.clone(),
            line: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_each_thread_in_order() {
        let out = Shared::default();
        let (writer, guard) = queued(out.clone()).expect("writer thread");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let mut line = writer.make_writer();
                        // Written in pieces, as a formatter may.
                        write!(line, "{{\"thread\":{t},").expect("write");
                        writeln!(line, "\"i\":{i}}}").expect("write");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        assert!(guard.flush(Duration::from_secs(10)));
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        let mut next = [0; 4];
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a whole line");
            let t = usize::try_from(v["thread"].as_u64().expect("thread")).expect("small");
            assert_eq!(v["i"], next[t], "thread {t}'s lines in order");
            next[t] += 1;
        }
        assert_eq!(next, [5_000; 4], "no line lost");
    }

    #[test]
    fn more_lines_than_the_queue_holds_wait_instead_of_being_dropped() {
        let out = Shared::default();
        let (writer, guard) = queued(out.clone()).expect("writer thread");
        let total = QUEUE_LINES * 3;
        for i in 0..total {
            let mut line = writer.make_writer();
            writeln!(line, "{i}").expect("write");
        }
        assert!(guard.flush(Duration::from_secs(10)));
        let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), total);
    }
}
