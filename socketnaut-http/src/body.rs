//! Message bodies: the [`Body`] type handlers read and return, and the request's
//! [`Trailers`]. The request body decoders are in `decode`.

use std::fmt;
use std::io::{self, Read};

use http::HeaderMap;
use std::sync::Arc;

use socketnaut_core::{Observer, ProxySocketAddressInfo};

use crate::metrics::{HttpStats, WorkerHandle};
use crate::stream::{self, Slot};
use crate::takeover::{BodyWriter, Upgraded};

/// A request or response body.
///
/// Request bodies are in memory (read fully, within `max_body`, before the handler runs), or,
/// with [`Http::stream_request_bodies`](crate::Http::stream_request_bodies), read from the
/// connection as the handler reads them ([`Read`], [`set_limit`](Self::set_limit)). A response body can be bytes (sent with `Content-Length`) or a reader of unknown
/// length (sent chunked to HTTP/1.1 clients, and delimited by closing the connection for
/// HTTP/1.0 ones).
#[derive(Default)]
pub struct Body {
    inner: Inner,
    /// On request bodies made by the server: the connection's address info. Carried here
    /// rather than in the request's extensions because inserting an extension allocates a map
    /// per request (see [`RequestExt::proxy_info`](crate::RequestExt::proxy_info)).
    info: Option<ProxySocketAddressInfo>,
    /// On request bodies made by the server: the worker's handle on its proxy's and its
    /// service's figures.
    handle: Option<Arc<WorkerHandle>>,
}

/// A push body's writing code (see [`Body::push`]).
pub(crate) type PushFn = Box<dyn FnOnce(&mut BodyWriter) -> io::Result<()> + Send>;
/// An upgrade's code (see [`Body::upgrade`]).
pub(crate) type UpgradeFn = Box<dyn FnOnce(&mut Upgraded) -> io::Result<()> + Send>;

#[derive(Default)]
enum Inner {
    #[default]
    Empty,
    Static(&'static [u8]),
    Bytes(Vec<u8>),
    Reader(Box<dyn Read + Send>),
    Sized(Box<dyn Read + Send>, u64),
    File(std::fs::File, u64, u64),
    Push(PushFn),
    Upgrade(UpgradeFn),
    /// A request body read from the connection as the handler reads it.
    Stream(Slot),
}

fn gone() -> io::Error {
    io::Error::other("a streamed request body can only be read while its handler runs")
}

/// Reads as a streamed request body does once its handler returned.
struct Gone;

impl Read for Gone {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(gone())
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body::default()
    }

    /// A body streamed from `reader` as the client's socket accepts it, in chunks. The reader
    /// is called on the worker thread; a read error aborts the response (the connection is
    /// closed, so the client sees a truncated message rather than a wrong one).
    pub fn from_reader<R: Read + Send + 'static>(reader: R) -> Body {
        Inner::Reader(Box::new(reader)).into()
    }

    /// A body the server pulls from nobody: once the response head is on the wire, `write`
    /// runs on the worker thread with a [`BodyWriter`], and what it writes goes to the client
    /// (chunked to HTTP/1.1 clients, close-delimited to HTTP/1.0 ones), each
    /// [`flush`](std::io::Write::flush) putting the bytes written so far on the wire at once:
    /// server-sent events, progress streams, long polls. A client that does not read blocks
    /// the writer (backpressure), and one that reads nothing for the write timeout fails it
    /// with `TimedOut`. Returning `Ok` ends the body (and the connection serves its next
    /// request); an `Err`, or a panic, cuts it (the connection is closed, so the client sees a
    /// truncated message). Not run for a response that has no content (`HEAD`, 204, 304).
    ///
    /// The call is a long callback: it costs this thread while it runs, and the worker's other
    /// connections move to other workers. See [`BodyWriter::is_draining`] to end politely
    /// when the service shuts down.
    ///
    /// ```
    /// use std::io::Write;
    /// use socketnaut_http::{http, Body, Response};
    ///
    /// let events: Response = http::Response::builder()
    ///     .header("content-type", "text/event-stream")
    ///     .body(Body::push(|w| {
    ///         for i in 0..3 {
    ///             write!(w, "data: {i}\n\n")?;
    ///             w.flush()?;
    ///         }
    ///         Ok(())
    ///     }))
    ///     .unwrap();
    /// # let _ = events;
    /// ```
    pub fn push<F>(write: F) -> Body
    where
        F: FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static,
    {
        Inner::Push(Box::new(write)).into()
    }

    /// The body of a `101 Switching Protocols` response: once the head is on the wire, `run`
    /// gets the connection, as an [`Upgraded`] stream (plain TCP or TLS, with any bytes the
    /// client sent after its request), to speak the new protocol on the worker thread; the
    /// connection closes when it returns. The request must have asked for it (HTTP/1.1,
    /// `Connection: upgrade` and an `Upgrade` field) and the response must be a 101 naming
    /// the protocol in its own `Upgrade` field; otherwise the server answers 500. The server
    /// adds `Connection: upgrade`.
    ///
    /// Like [`push`](Self::push), a long callback on this thread; see `examples/websocket.rs`.
    pub fn upgrade<F>(run: F) -> Body
    where
        F: FnOnce(&mut Upgraded) -> io::Result<()> + Send + 'static,
    {
        Inner::Upgrade(Box::new(run)).into()
    }

    /// A body of `len` bytes streamed from `reader`, sent with `Content-Length: len` (so
    /// clients show progress, and a `HEAD` says the same length). Reading stops at `len`; a
    /// reader that ends early cuts the response (the connection closes).
    pub fn sized_reader<R: Read + Send + 'static>(reader: R, len: u64) -> Body {
        Inner::Sized(Box::new(reader), len).into()
    }

    /// A whole file, sent with its length as `Content-Length`; on plain TCP with
    /// `sendfile(2)`, from the page cache to the socket without a copy through the server.
    /// See [`files::serve`](crate::files::serve) for validators, `304` and ranges.
    ///
    /// # Errors
    ///
    /// The file's metadata could not be read.
    pub fn file(file: std::fs::File) -> io::Result<Body> {
        let len = file.metadata()?.len();
        Ok(Body::file_range(file, 0, len))
    }

    /// `len` bytes of `file` from `offset`.
    pub(crate) fn file_range(file: std::fs::File, offset: u64, len: u64) -> Body {
        Inner::File(file, offset, len).into()
    }

    /// A body of static bytes, sent without copying them first.
    pub fn from_static(bytes: &'static [u8]) -> Body {
        Inner::Static(bytes).into()
    }

    pub(crate) fn streamed(slot: Slot) -> Body {
        Inner::Stream(slot).into()
    }

    /// For a streamed request body
    /// ([`Http::stream_request_bodies`](crate::Http::stream_request_bodies)): the most this
    /// handler accepts of it (until set, [`Limits::max_body`](crate::Limits::max_body)). A
    /// body whose `Content-Length` is over it fails its first read, before the client is told
    /// to send it (`100 Continue`); a chunked one fails the read that goes over it. Reads
    /// fail with `InvalidData` then; answer 413 (the server closes the connection after it).
    /// No effect on other bodies (a buffered request body was read whole under
    /// `Limits::max_body`).
    pub fn set_limit(&mut self, bytes: u64) {
        if let Inner::Stream(slot) = &self.inner {
            if let Some(source) = stream::lock(slot).as_mut() {
                source.set_limit(bytes);
            }
        }
    }

    /// The trailer fields of a streamed chunked request body, once it was read to its end.
    /// (For buffered bodies they are the request's [`Trailers`] extension.)
    pub fn trailers(&self) -> Option<HeaderMap> {
        match &self.inner {
            Inner::Stream(slot) => stream::lock(slot).as_ref()?.trailers().cloned(),
            _ => None,
        }
    }

    /// Whether this is a streamed request body (which cannot outlive its handler).
    pub(crate) fn is_request_stream(&self) -> bool {
        matches!(self.inner, Inner::Stream(_))
    }

    pub(crate) fn with_handle(mut self, handle: Arc<WorkerHandle>) -> Body {
        self.handle = Some(handle);
        self
    }

    /// The proxy a request body arrived through, for its stats and readiness (`None` on
    /// bodies made by users). See [`RequestExt::observer`](crate::RequestExt::observer).
    pub fn observer(&self) -> Option<Observer> {
        self.handle.as_ref().map(|h| h.observer.clone())
    }

    /// The HTTP figures of the service a request body arrived through (`None` on bodies made
    /// by users). See [`RequestExt::http_stats`](crate::RequestExt::http_stats).
    pub fn http_stats(&self) -> Option<HttpStats> {
        self.handle.as_ref().map(|h| h.registry.snapshot())
    }

    pub(crate) fn with_info(mut self, info: ProxySocketAddressInfo) -> Body {
        self.info = Some(info);
        self
    }

    /// The address info of the connection a request body arrived on (`None` on bodies made
    /// by users).
    pub fn proxy_info(&self) -> Option<ProxySocketAddressInfo> {
        self.info
    }

    /// The bytes of an in-memory body (empty for a reader).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.inner {
            Inner::Bytes(b) => b,
            Inner::Static(b) => b,
            _ => &[],
        }
    }

    /// The length, if known without reading.
    pub fn len(&self) -> Option<usize> {
        match &self.inner {
            Inner::Empty => Some(0),
            Inner::Static(b) => Some(b.len()),
            Inner::Bytes(b) => Some(b.len()),
            Inner::Reader(_) | Inner::Push(_) | Inner::Upgrade(_) | Inner::Stream(_) => None,
            Inner::Sized(_, n) | Inner::File(_, _, n) => usize::try_from(*n).ok(),
        }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// All of the body, reading a streamed one to its end.
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.inner {
            Inner::Empty => Ok(Vec::new()),
            Inner::Static(b) => Ok(b.to_vec()),
            Inner::Bytes(b) => Ok(b),
            Inner::Reader(mut r) | Inner::Sized(mut r, _) => {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                Ok(v)
            }
            Inner::File(f, offset, len) => {
                let mut v = Vec::new();
                io::Seek::seek(&mut &f, io::SeekFrom::Start(offset))?;
                (&f).take(len).read_to_end(&mut v)?;
                Ok(v)
            }
            Inner::Stream(slot) => {
                let mut v = Vec::new();
                Body::streamed(slot).read_to_end(&mut v)?;
                Ok(v)
            }
            Inner::Push(_) | Inner::Upgrade(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a push or upgrade body has no bytes to read",
            )),
        }
    }

    pub(crate) fn into_kind(self) -> Kind {
        match self.inner {
            Inner::Empty => Kind::Static(&[]),
            Inner::Static(b) => Kind::Static(b),
            Inner::Bytes(b) => Kind::Bytes(b),
            Inner::Reader(r) => Kind::Reader(r),
            Inner::Sized(r, n) => Kind::Sized(r, n),
            Inner::File(f, offset, n) => Kind::File(f, offset, n),
            Inner::Push(f) => Kind::Push(f),
            Inner::Upgrade(f) => Kind::Upgrade(f),
            // A streamed request body as a response body (`dispatch` answers 500 first): it
            // cannot be read once its handler returned.
            Inner::Stream(_) => Kind::Reader(Box::new(Gone)),
        }
    }
}

impl From<Inner> for Body {
    fn from(inner: Inner) -> Body {
        Body {
            inner,
            info: None,
            handle: None,
        }
    }
}

/// A body taken apart for writing.
pub(crate) enum Kind {
    Static(&'static [u8]),
    Bytes(Vec<u8>),
    Reader(Box<dyn Read + Send>),
    Sized(Box<dyn Read + Send>, u64),
    File(std::fs::File, u64, u64),
    Push(PushFn),
    Upgrade(UpgradeFn),
}

impl Kind {
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Kind::Static(b) => Some(b),
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The content's length, when known before sending.
    pub(crate) fn known_len(&self) -> Option<u64> {
        match self {
            Kind::Static(b) => Some(b.len() as u64),
            Kind::Bytes(b) => Some(b.len() as u64),
            Kind::Sized(_, n) | Kind::File(_, _, n) => Some(*n),
            Kind::Reader(_) | Kind::Push(_) | Kind::Upgrade(_) => None,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Empty => f.write_str("Body::Empty"),
            Inner::Static(b) => write!(f, "Body::Static({} bytes)", b.len()),
            Inner::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Inner::Reader(_) => f.write_str("Body::Reader"),
            Inner::Sized(_, n) => write!(f, "Body::Sized({n} bytes)"),
            Inner::File(_, _, n) => write!(f, "Body::File({n} bytes)"),
            Inner::Push(_) => f.write_str("Body::Push"),
            Inner::Upgrade(_) => f.write_str("Body::Upgrade"),
            Inner::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Inner::Bytes(v).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        s.into_bytes().into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from_static(s.as_bytes())
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::from_static(s)
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Empty => Ok(0),
            Inner::Bytes(b) => {
                let n = buf.len().min(b.len());
                buf[..n].copy_from_slice(&b[..n]);
                b.drain(..n);
                Ok(n)
            }
            Inner::Static(b) => {
                let n = buf.len().min(b.len());
                buf[..n].copy_from_slice(&b[..n]);
                *b = &b[n..];
                Ok(n)
            }
            Inner::Reader(r) => r.read(buf),
            Inner::Sized(r, left) => {
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = r.read(&mut buf[..want])?;
                *left -= n as u64;
                Ok(n)
            }
            Inner::File(f, offset, left) => {
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = std::os::unix::fs::FileExt::read_at(f, &mut buf[..want], *offset)?;
                *offset += n as u64;
                *left -= n as u64;
                Ok(n)
            }
            Inner::Push(_) | Inner::Upgrade(_) => Ok(0),
            Inner::Stream(slot) => match stream::lock(slot).as_mut() {
                Some(source) => source.read(buf),
                None => Err(gone()),
            },
        }
    }
}

/// The trailer fields of a chunked request, found in the request's extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailers(pub HeaderMap);
