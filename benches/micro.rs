//! Micro costs: parsing a request head, the acceptor → worker hand-off, the choice of worker
//! among 2, 64 and 256 workers, and formatting a response head.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

const HEAD: &[u8] = b"GET /api/users/42?fields=name,email HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: application/json\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef; theme=dark\r\n\r\n";

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(HEAD.len() as u64));
    g.bench_function("typical_request_head", |b| {
        b.iter(|| socketnaut_http::__bench::parse_head(black_box(HEAD)))
    });
    g.finish();
}

fn handoff(c: &mut Criterion) {
    let mut h = socketnaut_core::__bench::Handoff::new().expect("setup");
    c.bench_function("handoff/acceptor_to_worker_round_trip", |b| {
        b.iter(|| h.round_trip())
    });
}

fn choose(c: &mut Criterion) {
    let mut g = c.benchmark_group("choose_worker");
    for n in [2usize, 64, 256] {
        let loads: Vec<usize> = (0..n).map(|i| 10 + (i * 7919) % 13).collect();
        let mut cursor = 0;
        g.bench_with_input(BenchmarkId::from_parameter(n), &loads, |b, loads| {
            b.iter(|| {
                socketnaut_core::__bench::choose_least_connections(black_box(loads), &mut cursor)
            })
        });
    }
    g.finish();
}

fn format_head(c: &mut Criterion) {
    let mut headers = socketnaut_http::http::HeaderMap::new();
    headers.insert(
        "content-type",
        "text/plain; charset=utf-8".parse().expect("valid"),
    );
    let mut out = Vec::with_capacity(256);
    c.bench_function("format/response_head", |b| {
        b.iter(|| {
            out.clear();
            socketnaut_http::__bench::write_head(&mut out, black_box(&headers));
            out.len()
        })
    });
}

criterion_group!(benches, parse, handoff, choose, format_head);
criterion_main!(benches);
