//! Connection buffers, taken from a small per-thread pool while a connection is active and
//! returned as soon as it goes idle, so an idle keep-alive connection holds no buffer at all.

use std::cell::RefCell;

/// Size of a pooled buffer: room for a typical request head and a read burst.
pub(crate) const CHUNK: usize = 16 * 1024;
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
        if self.data.is_empty() {
            self.data = take_read();
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
}
