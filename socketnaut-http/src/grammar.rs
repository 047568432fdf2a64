//! The RFC 9110 / 9112 / 3986 rules that httparse and the `http` crate leave to us, as pure
//! functions over bytes: the request-target forms, the `Host` value, and the chunk line.
//!
//! Each function answers "is this valid?" (or which form it is); the caller maps a `false` to
//! its status. Where a rule leaves a choice, the choice and its reason are stated here and in
//! the [`acceptance`](crate::acceptance) table.

/// `tchar` (RFC 9110 §5.6.2): the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `unreserved` (RFC 3986 §2.3).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

/// `sub-delims` (RFC 3986 §2.2).
fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

/// Whether `s` is a run of characters each allowed by `ok`, with every `%` starting a
/// `pct-encoded` triplet (`%` HEXDIG HEXDIG).
fn pct_run(s: &[u8], ok: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if ok(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The characters of a path or query in a request target: RFC 3986's `pchar`, `/` and `?`,
/// plus the visible characters browsers send unescaped (the WHATWG URL standard leaves
/// `[ ] \ ^ `` ` `` { | }` as they are), because a widely used client needs them. Never
/// space, controls, DEL or non-ASCII bytes (RFC 9112 §3.2: a target is visible ASCII), nor
/// `" # < >`, which no conforming client sends raw (a fragment is never sent).
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b":@/?[]\\^`{|}".contains(&b)
}

/// `path-abempty [ "?" query ]` as it follows an authority, or `absolute-path [ "?" query ]`.
fn path_and_query(s: &[u8]) -> bool {
    pct_run(s, is_path_char)
}

/// The four request-target forms of RFC 9112 §3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetForm {
    /// `/path?query`: the usual form.
    Origin,
    /// `http://authority/path?query` (what proxies are sent). Holds the length of the scheme
    /// and `://` prefix, and the authority's length after it.
    Absolute { authority: (usize, usize) },
    /// `host:port`, for `CONNECT` only.
    Authority,
    /// `*`, for a server-wide `OPTIONS` only.
    Asterisk,
}

/// Which form `target` takes, or `None` if it is none of them.
///
/// The absolute form is accepted for the `http` and `https` schemes only (this is an origin
/// server), and without `userinfo`: RFC 9110 §4.2.4 deprecates it and tells recipients to
/// treat it as an error, as it is the stuff of phishing links.
pub(crate) fn target_form(target: &[u8]) -> Option<TargetForm> {
    match target {
        [] => None,
        b"*" => Some(TargetForm::Asterisk),
        [b'/', ..] => path_and_query(target).then_some(TargetForm::Origin),
        _ => {
            let scheme_end = target.iter().position(|&b| b == b':')?;
            let scheme = &target[..scheme_end];
            if scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https") {
                let rest = target[scheme_end + 1..].strip_prefix(b"//")?;
                let end = rest
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(rest.len());
                let (authority, path) = rest.split_at(end);
                let start = scheme_end + 3;
                return (host_port(authority, PortRule::Optional) && path_and_query(path))
                    .then_some(TargetForm::Absolute {
                        authority: (start, authority.len()),
                    });
            }
            host_port(target, PortRule::Required).then_some(TargetForm::Authority)
        }
    }
}

/// Whether a `Host` field value is valid (RFC 9112 §3.2, RFC 3986 §3.2.2): `uri-host [ ":"
/// port ]` with a non-empty host (RFC 9110 §4.2.1: an `http` URI's host is never empty).
///
/// A comma is refused although RFC 3986 allows it in a `reg-name`: a recipient combines
/// repeated field lines with commas (RFC 9110 §5.3), so `a,b` cannot be told from two `Host`
/// lines, which RFC 9112 forbids.
pub(crate) fn is_host(value: &[u8]) -> bool {
    !value.contains(&b',') && host_port(value, PortRule::Optional)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Optional,
    Required,
}

/// `uri-host [ ":" port ]` (port required for the authority form, RFC 9112 §3.2.3), a port
/// being at most 65535 (a longer digit string names no port any client can have used).
fn host_port(s: &[u8], port: PortRule) -> bool {
    let (host, rest) = if s.first() == Some(&b'[') {
        let Some(close) = s.iter().position(|&b| b == b']') else {
            return false;
        };
        if !ip_literal(&s[1..close]) {
            return false;
        }
        (&s[..=close], &s[close + 1..])
    } else {
        let end = s.iter().position(|&b| b == b':').unwrap_or(s.len());
        (&s[..end], &s[end..])
    };
    if host.is_empty()
        || !(host[0] == b'[' || pct_run(host, |b| is_unreserved(b) || is_sub_delim(b)))
    {
        return false;
    }
    match rest {
        [] => port == PortRule::Optional,
        [b':'] => port == PortRule::Optional,
        [b':', digits @ ..] => {
            digits.len() <= 5
                && digits.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<u32>().ok())
                    .is_some_and(|p| p <= 65535)
        }
        _ => false,
    }
}

/// The inside of `[...]`: an IPv6 address (no zone identifier: RFC 6874 zones are not sent
/// in HTTP) or an `IPvFuture`.
fn ip_literal(s: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = s {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (ver, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !ver.is_empty()
            && ver.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse::<std::net::Ipv6Addr>().ok())
        .is_some()
}

/// Whether the rest of a chunk-size line, after the hex digits, is a valid `chunk-ext`
/// (RFC 9112 §7.1.1): `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, with `ext-val` a
/// token or a quoted string. Whitespace is allowed only where `BWS` is (never trailing, never
/// after the size without a `;`), and a bare `;` is an error: lenient chunk parsers are what
/// the 2025–2026 "funky chunks" smuggling advisories exploited.
pub(crate) fn is_chunk_ext(s: &[u8]) -> bool {
    let ws = |s: &[u8], mut i: usize| {
        while s.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
            i += 1;
        }
        i
    };
    let token_end = |s: &[u8], mut i: usize| {
        while s.get(i).is_some_and(|&b| is_tchar(b)) {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < s.len() {
        i = ws(s, i);
        if s.get(i) != Some(&b';') {
            return false;
        }
        i = ws(s, i + 1);
        let name_end = token_end(s, i);
        if name_end == i {
            return false;
        }
        i = name_end;
        let after = ws(s, i);
        if s.get(after) == Some(&b'=') {
            i = ws(s, after + 1);
            i = match s.get(i) {
                Some(b'"') => match quoted_string_end(s, i) {
                    Some(end) => end,
                    None => return false,
                },
                _ => {
                    let end = token_end(s, i);
                    if end == i {
                        return false;
                    }
                    end
                }
            };
        }
    }
    true
}

/// The index just past the `quoted-string` starting at `s[start] == '"'`.
fn quoted_string_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let next = *s.get(i + 1)?;
                if next != b'\t' && (next < 0x20 || next == 0x7f) {
                    return None;
                }
                i += 2;
            }
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_values() {
        let rows: &[(&str, bool)] = &[
            ("example.com", true),
            ("example.com:8080", true),
            ("EXAMPLE.com:", true),
            ("127.0.0.1", true),
            ("[::1]", true),
            ("[::1]:443", true),
            ("[v1.fe80::a+en1]", true),
            ("a%41b", true),
            ("xn--bcher-kva.example", true),
            ("", false),
            (":80", false),
            ("a b", false),
            ("a/b", false),
            ("user@a", false),
            ("a<b", false),
            ("a:1:2", false),
            ("a:b", false),
            ("a:65536", false),
            ("a:123456", false),
            ("a,b", false),
            ("a, b", false),
            ("[::1", false),
            ("[fe80::1%25en0]", false),
            ("[nothex]", false),
            ("a%4", false),
            ("a%zz", false),
            ("caf\u{e9}", false),
        ];
        for (value, ok) in rows {
            assert_eq!(is_host(value.as_bytes()), *ok, "{value:?}");
        }
    }

    #[test]
    fn target_forms() {
        use TargetForm::*;
        let rows: &[(&str, Option<TargetForm>)] = &[
            ("/", Some(Origin)),
            ("/a/b?c=d&e=%20f", Some(Origin)),
            ("/a[1]?q={x}|y^z`\\", Some(Origin)),
            ("/a:b@c;d=e,f!$'()*+~", Some(Origin)),
            ("*", Some(Asterisk)),
            (
                "http://example.com/x?y",
                Some(Absolute { authority: (7, 11) }),
            ),
            (
                "HTTPS://example.com:8443",
                Some(Absolute { authority: (8, 16) }),
            ),
            ("http://a?q", Some(Absolute { authority: (7, 1) })),
            ("example.com:443", Some(Authority)),
            ("[::1]:443", Some(Authority)),
            ("", None),
            ("example.com", None),
            ("a b", None),
            ("/a b", None),
            ("/a#frag", None),
            ("/a\"b", None),
            ("/<script>", None),
            ("/caf\u{e9}", None),
            ("/a\x7f", None),
            ("/%zz", None),
            ("/%4", None),
            ("**", None),
            ("http://", None),
            ("http:///x", None),
            ("http://user@a/", None),
            ("http:/a", None),
            ("ftp://a/", None),
            ("mailto:a@b", None),
            ("http://a/b c", None),
        ];
        for (target, want) in rows {
            assert_eq!(target_form(target.as_bytes()), *want, "{target:?}");
        }
    }

    #[test]
    fn chunk_extensions() {
        let rows: &[(&str, bool)] = &[
            ("", true),
            (";a", true),
            (";a=b", true),
            (";a=b;c", true),
            (";a=\"x y;z\"", true),
            (";a=\"q\\\"uote\"", true),
            (" ;a", true),
            ("\t; a = b ;c", true),
            (";", false),
            (" ", false),
            ("\t", false),
            (";a ", false),
            (";a=", false),
            (";a=b ", false),
            (";=b", false),
            (";a b", false),
            (";a=b c", false),
            (";a=\"open", false),
            (";a=\"bad\x01\"", false),
            ("x", false),
            (";a;", false),
            (";a@b", false),
        ];
        for (ext, ok) in rows {
            assert_eq!(is_chunk_ext(ext.as_bytes()), *ok, "{ext:?}");
        }
    }
}
