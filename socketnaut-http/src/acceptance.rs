//! What this server accepts and rejects, and why (documentation only).
//!
//! Every rejection below answers with the status shown, `Connection: close`, and no content
//! when the request was `HEAD`; the connection then closes after draining the client's
//! bytes briefly (so the close does not reset the response away). Nothing after a rejected
//! request is ever parsed. Where RFC 9110/9112 leave a choice, the strict answer is taken
//! unless a widely used client needs the lenient one; each such choice says so. Every row is
//! a row of `tests/rules.rs` (over a real socket) or of the parser's unit tables.
//!
//! # The request line (RFC 9112 §2–§3)
//!
//! | input | answer | why |
//! |---|---|---|
//! | empty lines before the request line | ignored | RFC 9112 §2.2 SHOULD |
//! | bare LF as a line ending in the head | accepted | RFC 9112 §2.2 MAY; old tools send it, and it cannot desynchronise framing |
//! | method not a token | 400 | RFC 9110 §9.1 |
//! | request line longer than `max_request_line` (8 KiB) | 414 | checked on the raw bytes, before the line ends |
//! | `HTTP/1.0`, `HTTP/1.1` | served | |
//! | `HTTP/d.d` other than those (`HTTP/2.0`, `HTTP/1.2`) | 505 | a version we do not speak |
//! | anything else as the version (`HTTP/1`, `http/1.1`, `HTTP/1.10`) | 400 | not an `HTTP-version` token at all (RFC 9112 §2.3) |
//! | `/path?query` (origin form) | served | |
//! | `http://host/path` or `https://…` (absolute form) | served; the target's authority replaces `Host` | RFC 9112 §3.2.2 MUST: the handler sees one authority, in the URI and in `Host` alike |
//! | absolute form with another scheme, or with `userinfo@` | 400 | an origin server for `http`; RFC 9110 §4.2.4 says to treat userinfo as an error |
//! | `*` with `OPTIONS` (asterisk form) | passed to the handler (`uri() == "*"`) | the server-wide `OPTIONS` is the application's to answer |
//! | `*` with any other method | 400 | RFC 9112 §3.2.4 |
//! | `host:port` (authority form) with any method but `CONNECT` | 400 | RFC 9112 §3.2.3 |
//! | `TRACE`, and methods this server does not know | passed to the handler | the application decides (a router answers 404/405; nothing is echoed by default) |
//! | `CONNECT` | 501 | RFC 9110 §9.3.6: this server does not tunnel; closing keeps tunnel bytes from being read as requests |
//! | target bytes outside visible ASCII (space, controls, DEL, non-ASCII) | 400 | RFC 9112 §3.2 |
//! | `" # < >` in the target, or `%` not followed by two hex digits | 400 | never valid in a target (a fragment is never sent) |
//! | `[`, `]`, `\`, `^`, `{`, `\|`, `}` or a backtick in the target | accepted | outside RFC 3986, but browsers send them unescaped (WHATWG URL): a widely used client needs it |
//!
//! # Header fields (RFC 9112 §5, RFC 9110 §5)
//!
//! | input | answer | why |
//! |---|---|---|
//! | head larger than `max_head` (16 KiB), even before it ends | 431 | |
//! | more than `max_headers` (100) fields | 431 | |
//! | field name not a token, whitespace before the colon | 400 | RFC 9112 §5.1 MUST |
//! | whitespace before the first field line | 400 | RFC 9112 §2.2 (reject, rather than skip the line) |
//! | obs-fold (a line starting with whitespace) | 400 | RFC 9112 §5.2 allows rejecting; folding is how headers get smuggled |
//! | control characters (but tab) or DEL in a value, a bare CR anywhere | 400 | RFC 9110 §5.5 |
//! | bytes 0x80–0xFF in a value (obs-text) | kept as they are | RFC 9110 §5.5 allows them |
//! | `Expect: 100-continue` | `100 Continue` sent when the body has not started | RFC 9110 §10.1.1 |
//! | any other `Expect` | 417 | RFC 9110 §10.1.1 |
//!
//! # Host (RFC 9112 §3.2, RFC 3986 §3.2.2)
//!
//! | input | answer | why |
//! |---|---|---|
//! | HTTP/1.1 without `Host`, or any request with two | 400 | RFC 9112 §3.2 MUST |
//! | `host`, `host:port`, `[v6]:port`, IPv4, `%`-escapes | accepted | `uri-host [ ":" port ]` |
//! | empty value | 400 | an `http` URI's host is never empty (RFC 9110 §4.2.1) |
//! | spaces, `/`, `@`, `<`, a second colon, a port over 65535 or not digits | 400 | not `uri-host [ ":" port ]` |
//! | a comma (`a,b`) | 400 | allowed in a reg-name, but indistinguishable from two `Host` lines combined (RFC 9110 §5.3) |
//! | HTTP/1.0 without `Host` | served | HTTP/1.0 does not require it |
//!
//! # Message framing (RFC 9112 §6–§7)
//!
//! | input | answer | why |
//! |---|---|---|
//! | `Transfer-Encoding` and `Content-Length` together | 400 | RFC 9112 §6.1 allows rejecting; the classic smuggling vector |
//! | `Transfer-Encoding` in HTTP/1.0 | 400 | RFC 9112 §6.1: the framing is faulty |
//! | `Transfer-Encoding: chunked` | accepted | |
//! | `chunked` not last, or twice | 400 | RFC 9112 §6.3 |
//! | other codings (`gzip`, `gzip, chunked`) | 501 | RFC 9112 §6.1: codings we do not implement |
//! | `Content-Length` of plain digits (leading zeros too) | accepted | |
//! | a sign, hex, spaces, an empty value, a value over u64 | 400 | `1*DIGIT` |
//! | `Content-Length: 5, 5` or two `Content-Length` lines, even equal | 400 | RFC 9112 §6.3 allows rejecting; then no parser in a chain can read the body differently |
//! | body over `max_body` (1 MiB) by its length, or as chunks arrive | 413 | checked before reading the body, and per chunk |
//! | chunk size not `1*HEXDIG`, or over 16 significant digits | 400 | |
//! | chunk extensions `;name`, `;name=token`, `;name="quoted"`, with whitespace around `;` and `=` | accepted | RFC 9112 §7.1.1 (`BWS` is there, recipients must accept it) |
//! | whitespace after the size with no `;` (`5 `), a bare `;`, an extension name that is not a token, `name=` with no value | 400 | not `chunk-ext`; lenient chunk parsers are what the 2025–2026 "funky chunks" smuggling advisories exploited |
//! | a bare LF or bare CR in chunked framing, data not followed by CRLF | 400 | |
//! | extensions and trailers over `max_chunk_metadata` (16 KiB) | 400 (extensions) / 431 (trailers) | |
//! | trailer lines folded, or not `name: value` | 400 | |
//!
//! # Responses (RFC 9110 §6.4.1, §8.6, §9.3.2, §15)
//!
//! | response | what is sent | why |
//! |---|---|---|
//! | to `HEAD` | the headers a `GET` would get, no content (the server's own errors too) | RFC 9110 §9.3.2 |
//! | to `HEAD`, handler's body empty but its `Content-Length` set | that `Content-Length` | so a `HEAD` handler need not build the body |
//! | 204 | neither `Content-Length` nor `Transfer-Encoding`, no content | RFC 9110 §8.6, §15.3.5 |
//! | 304 | no content; the handler's `Content-Length` if it set one, else none | RFC 9110 §8.6 |
//! | 1xx returned by a handler as its response | 500 | a 1xx is not a final response: the client would wait for one forever |
//! | a handler panic | 500, counted in `Stats::panics` | the panic costs that request only |
//! | a reader body | chunked to HTTP/1.1, close-delimited to HTTP/1.0 | |
//!
//! # Time and memory
//!
//! | situation | answer | why |
//! |---|---|---|
//! | head not complete within the header timeout (10 s) from accept or the last response | 408 | an absolute deadline: dribbling bytes does not extend it |
//! | keep-alive idle past the idle timeout (5 s) | closed | |
//! | body without progress for the body timeout (30 s) | 408 | |
//! | body below 240 bytes/s on average after 5 s ([`MinDataRate`](crate::MinDataRate)) | 408 | a progress timeout alone lets one byte every 29 s hold a connection for as long as the body is (Kestrel's anchor) |
//! | response without progress for the write timeout (30 s) | closed | while a response is being written only this and the next row apply, whatever is buffered behind it |
//! | response read below 240 bytes/s on average after 5 s, from when the socket first stops taking output | closed | a reader that keeps a response in the kernel's buffers forever holds its connection forever |
//! | pipelined requests | all answered, in order; parsing pauses while 64 KiB of output waits and input stops being read at 64 KiB | memory stays bounded for a client that does not read |
//! | a partial head | holds what arrived (an allocation of its size up to 4 KiB, then a pooled buffer) | memory is bounded by what arrived |
//! | a head claiming a body | nothing reserved; the body grows as it arrives | never sized by what a client claims |
