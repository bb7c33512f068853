//! The parser example's workload under criterion: a generated program of 50,000 `let`s
//! (about 2.3 MB) tokenized, parsed into an AST with interned identifiers, evaluated and
//! freed — on an allockit scope (AST, statement list and name map in the scope), on
//! bumpalo (the same parser code, all in the bump, reset after each round) and on the
//! global allocator, glibc here (a `Box` tree with `Box<str>` keys). Quote ratios
//! (`python3 benches/ratios.py`), not times.
//!
//! `cargo bench --bench parser`

#[path = "../examples/parser.rs"]
#[allow(dead_code)]
mod parser;

use std::hint::black_box;
use std::time::Duration;

use allockit::Arena;
use bumpalo::Bump;
use criterion::{Criterion, criterion_group, criterion_main};

const LETS: usize = 50_000;

fn parse_evaluate_free(c: &mut Criterion) {
    let src = parser::generate(LETS);
    let mut arena = Arena::new();
    let mut bump = Bump::new();
    let expected = parser::run_on_heap(&src).unwrap();
    assert_eq!(parser::run_in_arena(&mut arena, &src).unwrap().0, expected);
    assert_eq!(parser::run_in_bump(&mut bump, &src).unwrap(), expected);

    let mut g = c.benchmark_group("parser_50k_lets");
    g.bench_function("allockit_scope", |b| {
        b.iter(|| black_box(parser::run_in_arena(&mut arena, black_box(&src)).unwrap()))
    });
    g.bench_function("bumpalo", |b| {
        b.iter(|| black_box(parser::run_in_bump(&mut bump, black_box(&src)).unwrap()))
    });
    g.bench_function("glibc", |b| {
        b.iter(|| black_box(parser::run_on_heap(black_box(&src)).unwrap()))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse_evaluate_free
}
criterion_main!(benches);
