//! Passing a command's output through while keeping its tail: each of its pipes is
//! copied to our own stream as it comes, byte for byte, and into one shared ring of the
//! last bytes of both, which becomes the body of the finishing ping.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The last `capacity` bytes written into it.
#[derive(Debug)]
pub struct Tail {
    bytes: VecDeque<u8>,
    capacity: usize,
}

impl Tail {
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(chunk);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
    }
}

/// A tail shared by the copiers of stdout and stderr.
pub type SharedTail = Arc<Mutex<Tail>>;

/// Copies `from` to `to` on a thread of its own until `from` ends, keeping what
/// passes in `tail`. Blocking reads and writes on a thread keep the bytes and their
/// order exactly as the command wrote them.
///
/// When `to` is closed (`overdue run … | head`), copying stops and `from` is closed,
/// so the command meets the broken pipe it would have met without us in between.
pub fn spawn_copier(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    tail: SharedTail,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let chunk = &buf[..n];
            tail.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(chunk);
            if to.write_all(chunk).and_then(|()| to.flush()).is_err() {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_across_chunks() {
        let mut tail = Tail::new(4);
        tail.push(b"ab");
        assert_eq!(tail.to_vec(), b"ab");
        tail.push(b"cde");
        assert_eq!(tail.to_vec(), b"bcde");
        tail.push(b"0123456789");
        assert_eq!(tail.to_vec(), b"6789");
        tail.push(b"");
        assert_eq!(tail.to_vec(), b"6789");
    }
}
