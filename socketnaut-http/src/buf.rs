//! Connection buffers, taken from a small per-thread pool while a connection is active and
//! returned as soon as it goes idle, so an idle keep-alive connection holds no buffer at all.

use std::cell::RefCell;

/// Size of a pooled buffer: room for a typical request head and a read burst.
pub(crate) const CHUNK: usize = 16 * 1024;
/// The most buffered bytes `ReadBuf::shrink` copies out of a pooled buffer.
const SHRINK_MAX: usize = CHUNK / 4;
/// Buffers kept per thread; beyond this, returned buffers are freed.
const POOL_MAX: usize = 64;

thread_local! {
    /// Read buffers, kept initialised (`len() == CHUNK`) so reads never re-zero memory.
    static READ: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// Write buffers, kept empty (`len() == 0`).
    static WRITE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn pop(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>>) -> Option<Vec<u8>> {
    pool.with(|p| p.borrow_mut().pop())
}

fn push(pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>>, buf: Vec<u8>) {
    pool.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(buf);
        }
    });
}

/// Oversized buffers (grown for a large message) are freed rather than pooled.
fn poolable(capacity: usize) -> bool {
    (CHUNK..=4 * CHUNK).contains(&capacity)
}

/// Takes a read buffer of `CHUNK` initialised bytes (stale contents).
pub(crate) fn take_read() -> Vec<u8> {
    pop(&READ).unwrap_or_else(|| vec![0; CHUNK])
}

fn give_read(mut buf: Vec<u8>) {
    if poolable(buf.capacity()) {
        buf.truncate(CHUNK);
        if buf.len() == CHUNK {
            push(&READ, buf);
        }
    }
}

/// Takes an empty write buffer with at least `CHUNK` bytes of capacity.
pub(crate) fn take_write() -> Vec<u8> {
    pop(&WRITE).unwrap_or_else(|| Vec::with_capacity(CHUNK))
}

/// Gives a write buffer back.
pub(crate) fn give_write(mut buf: Vec<u8>) {
    if poolable(buf.capacity()) {
        buf.clear();
        push(&WRITE, buf);
    }
}

/// A read buffer: `data[start..end]` holds unread bytes; `data` stays initialised, so reads
/// never re-zero memory.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Space to read into, at least `CHUNK / 4` bytes, compacting or growing as needed.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.data.len() < CHUNK {
            // None yet, or a small copy kept while waiting (see `shrink`): read into a
            // pooled buffer again.
            let mut pooled = take_read();
            let n = self.len();
            pooled[..n].copy_from_slice(self.bytes());
            self.data = pooled;
            self.start = 0;
            self.end = n;
        }
        if self.data.len() - self.end < CHUNK / 4 {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.data.len() - self.end < CHUNK / 4 {
                let grown = self.data.len() * 2;
                self.data.resize(grown, 0);
            }
        }
        &mut self.data[self.end..]
    }

    pub(crate) fn commit(&mut self, n: usize) {
        self.end += n;
    }

    /// Before waiting for more bytes: gives the pooled buffer back and keeps what is buffered
    /// in an allocation of its own size, if that is at most `SHRINK_MAX`. A connection that
    /// has sent part of a request head then holds what it sent, not a read buffer (so 10,000
    /// such connections cost their bytes, not 10,000 × `CHUNK`). Larger remainders keep the
    /// buffer: they cost at most 4× what arrived, and copying them on every event would cost
    /// more CPU than it saves memory.
    pub(crate) fn shrink(&mut self) {
        if self.is_empty() {
            return self.release_if_empty();
        }
        if self.data.len() < CHUNK || self.len() > SHRINK_MAX {
            return;
        }
        let kept = self.bytes().to_vec();
        give_read(std::mem::replace(&mut self.data, kept));
        self.start = 0;
        self.end = self.data.len();
    }

    /// Returns the memory to the pool if nothing is buffered.
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() && !self.data.is_empty() {
            give_read(std::mem::take(&mut self.data));
            self.start = 0;
            self.end = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buf_compacts_grows_and_releases() {
        let mut b = ReadBuf::default();
        assert!(b.is_empty());
        let n = b.spare().len();
        assert!(n >= CHUNK);
        b.spare()[..3].copy_from_slice(b"abc");
        b.commit(3);
        b.consume(1);
        assert_eq!(b.bytes(), b"bc");
        let fill = b.spare().len();
        b.commit(fill);
        assert!(b.spare().len() >= CHUNK / 4, "grew");
        assert_eq!(&b.bytes()[..2], b"bc");
        let len = b.len();
        b.consume(len);
        b.release_if_empty();
        assert_eq!(b.data.capacity(), 0);
    }

    #[test]
    fn shrink_keeps_only_what_arrived_and_reading_resumes() {
        let mut b = ReadBuf::default();
        b.spare()[..4].copy_from_slice(b"GET ");
        b.commit(4);
        b.consume(1);
        b.shrink();
        assert_eq!(b.bytes(), b"ET ");
        assert_eq!(b.data.capacity(), 3, "an allocation of its own size");
        let room = b.spare().len();
        assert!(room >= CHUNK / 4, "back in a pooled buffer");
        b.spare()[..2].copy_from_slice(b"/ ");
        b.commit(2);
        assert_eq!(b.bytes(), b"ET / ");
        // A large remainder stays where it is.
        let fill = SHRINK_MAX + 1 - b.len();
        b.spare()[..fill].fill(b'x');
        b.commit(fill);
        b.shrink();
        assert!(b.data.len() >= CHUNK);
        assert_eq!(b.len(), SHRINK_MAX + 1);
        let n = b.len();
        b.consume(n);
        b.shrink();
        assert_eq!(b.data.capacity(), 0, "empty: released");
    }
}
