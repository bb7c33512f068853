//! A small real parser whose AST lives in a scoped arena.
//!
//! The language is `i64` arithmetic with `let` bindings, e.g.
//! `let a = 6; let b = a * (2 + -1); b / 0 + a * 7` (which is 42): `+ - * /`, unary minus
//! and parentheses, wrapping on overflow; division by zero gives 0. A name must be bound
//! before it is used and may be rebound. Bad input (a stray character, an unexpected
//! token, an unbound name, nesting too deep) is an `Err` with a line and column, never a
//! panic.
//!
//! One tokenizer, recursive-descent parser and evaluator runs on three allocators. The
//! arena builder is written once over [`BumpAlloc`]: `parse_in(src, arena)` takes any
//! `impl BumpAlloc<'a>` and returns a program that lives for `'a`, so the same code runs
//! on an `&Arena`, inside a scope (`&*s`), and on bumpalo:
//!
//! - **allockit**: AST nodes from `alloc`, the statement list a `Vec` in the scope,
//!   identifiers interned in a `hashbrown::HashMap` living in the same scope (keys copied
//!   with `alloc_str`). Each round is one `arena.scope(..)` of one long-lived arena, so
//!   later rounds reuse its chunks.
//! - **bumpalo**: the same code on a `Bump` (through a small adapter that calls bumpalo's
//!   own `alloc` and `alloc_str`), map and list in the bump too, reset after each round.
//! - **global**: an owning `Box` tree and `Box<str>` keys; dropping them frees every node.
//!
//! Each variant parses a generated program of 200,000 `let`s (about 9 MB), evaluates it
//! and frees it, 5 times; the best time is printed. Run it with
//! `cargo run --release --example parser`; `cargo bench --bench parser` measures the same
//! workload with criterion.

use allocator_api2::alloc::Global;
use allocator_api2::vec::Vec;
use std::borrow::Borrow;
use std::fmt::{self, Write as _};
use std::hash::Hash;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use allockit::{AllocError, Allocator, Arena, BumpAlloc, Layout};
use bumpalo::Bump;
use hashbrown::{DefaultHashBuilder, HashMap};

// ----- the AST and where it lives ---------------------------------------------------

/// An interned identifier: names are numbered 0, 1, 2, … in order of first appearance.
type Sym = u32;

/// An expression whose children are reached through `L`: a reference into an arena, or
/// an owning `Box`.
enum Expr<L> {
    Num(i64),
    Var(Sym),
    Neg(L),
    /// The operator is one of `b'+'`, `b'-'`, `b'*'`, `b'/'`.
    Bin(u8, L, L),
}

trait Link: Sized {
    fn get(&self) -> &Expr<Self>;
}

/// A node in an arena (allockit or bumpalo).
#[derive(Clone, Copy)]
struct Ref<'a>(&'a Expr<Ref<'a>>);

impl Link for Ref<'_> {
    fn get(&self) -> &Expr<Self> {
        self.0
    }
}

/// A node owned by its parent, on the global allocator.
struct Owned(Box<Expr<Owned>>);

impl Link for Owned {
    fn get(&self) -> &Expr<Self> {
        &self.0
    }
}

/// A parsed program: the `let`s in order, then the final expression.
struct Program<L, A: Allocator> {
    lets: Vec<(Sym, L), A>,
    result: L,
    syms: usize,
}

/// Where the parser puts nodes, names and the statement list.
trait Builder {
    type L: Link;
    type A: Allocator;
    fn node(&mut self, e: Expr<Self::L>) -> Self::L;
    fn intern(&mut self, name: &str) -> Sym;
    fn list_alloc(&self) -> Self::A;
}

/// The interning code every builder shares: look the name up, else copy it and insert it.
fn intern<K: Borrow<str> + Hash + Eq, A: allocator_api2::alloc::Allocator>(
    names: &mut HashMap<K, Sym, DefaultHashBuilder, A>,
    name: &str,
    copy: impl FnOnce(&str) -> K,
) -> Sym {
    if let Some(&sym) = names.get(name) {
        return sym;
    }
    let sym = names.len() as Sym;
    names.insert(copy(name), sym);
    sym
}

/// The arena builder, written once for every bump allocator: an allockit arena or scope,
/// or bumpalo through [`Bumpalo`]. The name map lives in the same allocator.
struct InArena<'a, B: BumpAlloc<'a>> {
    a: B,
    names: HashMap<&'a str, Sym, DefaultHashBuilder, B>,
}

impl<'a, B: BumpAlloc<'a>> Builder for InArena<'a, B> {
    type L = Ref<'a>;
    type A = B;
    fn node(&mut self, e: Expr<Ref<'a>>) -> Ref<'a> {
        Ref(self.a.alloc(e))
    }
    fn intern(&mut self, name: &str) -> Sym {
        let a = self.a;
        intern(&mut self.names, name, |name| &*a.alloc_str(name))
    }
    fn list_alloc(&self) -> B {
        self.a
    }
}

/// Parses `src` into any bump allocator: the program lives as long as `'a`.
fn parse_in<'a>(
    src: &str,
    a: impl BumpAlloc<'a>,
) -> Result<Program<Ref<'a>, impl Allocator>, ParseError> {
    let names = HashMap::new_in(a);
    parse(src, &mut InArena { a, names })
}

/// bumpalo's `&Bump` as a [`BumpAlloc`]: its own `alloc` and `alloc_str` for nodes and
/// names, its allocator-api2 impl for the map and the list.
#[derive(Clone, Copy)]
struct Bumpalo<'a>(&'a Bump);

// SAFETY: forwards every call to bumpalo's own `Allocator` impl for `&Bump`.
unsafe impl Allocator for Bumpalo<'_> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.0.allocate(layout)
    }
    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(ptr, layout) }
    }
    #[inline(always)]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.grow(ptr, old, new) }
    }
    #[inline(always)]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.shrink(ptr, old, new) }
    }
}

// SAFETY: a `Bump`'s blocks stay valid until `reset` or drop, which need `&mut Bump`, so
// not within the shared borrow `'a`.
unsafe impl<'a> BumpAlloc<'a> for Bumpalo<'a> {
    #[inline(always)]
    fn try_alloc_layout(self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.0.try_alloc_layout(layout).map_err(|_| AllocError)
    }
    #[inline(always)]
    fn alloc<T>(self, val: T) -> &'a mut T {
        self.0.alloc(val)
    }
    #[inline(always)]
    fn alloc_str(self, s: &str) -> &'a mut str {
        self.0.alloc_str(s)
    }
}

struct OnHeap(HashMap<Box<str>, Sym>);

impl Builder for OnHeap {
    type L = Owned;
    type A = Global;
    fn node(&mut self, e: Expr<Owned>) -> Owned {
        Owned(Box::new(e))
    }
    fn intern(&mut self, name: &str) -> Sym {
        intern(&mut self.0, name, |name| name.into())
    }
    fn list_alloc(&self) -> Global {
        Global
    }
}

// ----- tokenizer and parser ---------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Tok<'src> {
    Num(i64),
    Ident(&'src str),
    Let,
    /// One of `+ - * / ( ) = ;`.
    Punct(u8),
    Eof,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "`{n}`"),
            Tok::Ident(name) => write!(f, "`{name}`"),
            Tok::Let => f.write_str("`let`"),
            Tok::Punct(c) => write!(f, "`{}`", *c as char),
            Tok::Eof => f.write_str("end of input"),
        }
    }
}

#[derive(Debug)]
pub(crate) struct ParseError {
    line: usize,
    col: usize,
    msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.msg)
    }
}

/// Limit on the parser's recursion and on the AST's depth, so that no input can overflow
/// the stack of the parser, the evaluator or a `Box` tree's drop.
const MAX_DEPTH: u32 = 1000;

struct Parser<'src, 'b, B: Builder> {
    src: &'src str,
    pos: usize,
    /// The current token and its byte offset.
    tok: Tok<'src>,
    at: usize,
    b: &'b mut B,
    /// Whether each symbol is bound yet (a plain `Vec`, the same for every allocator).
    bound: Vec<bool>,
    nest: u32,
}

fn parse<B: Builder>(src: &str, b: &mut B) -> Result<Program<B::L, B::A>, ParseError> {
    let bound = Vec::new();
    let parser = Parser {
        src,
        pos: 0,
        tok: Tok::Eof,
        at: 0,
        b,
        bound,
        nest: 0,
    };
    parser.program()
}

impl<B: Builder> Parser<'_, '_, B> {
    fn error(&self, at: usize, msg: String) -> ParseError {
        let before = &self.src[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let col = before[line_start..].chars().count() + 1;
        ParseError { line, col, msg }
    }

    fn expected(&self, what: &str) -> ParseError {
        self.error(self.at, format!("expected {what}, found {}", self.tok))
    }

    /// Reads the next token into `self.tok`.
    fn advance(&mut self) -> Result<(), ParseError> {
        let bytes = self.src.as_bytes();
        let skip = |mut i: usize, f: fn(u8) -> bool| {
            while i < bytes.len() && f(bytes[i]) {
                i += 1;
            }
            i
        };
        self.at = skip(self.pos, |c| c.is_ascii_whitespace());
        self.pos = self.at + 1;
        self.tok = match bytes.get(self.at) {
            None => {
                self.pos = self.at;
                Tok::Eof
            }
            Some(b'0'..=b'9') => {
                self.pos = skip(self.at, |c| c.is_ascii_digit());
                let text = &self.src[self.at..self.pos];
                let n = text.parse();
                Tok::Num(n.map_err(|_| self.error(self.at, format!("`{text}` is too large")))?)
            }
            Some(b'a'..=b'z' | b'A'..=b'Z' | b'_') => {
                self.pos = skip(self.at, |c| c.is_ascii_alphanumeric() || c == b'_');
                match &self.src[self.at..self.pos] {
                    "let" => Tok::Let,
                    name => Tok::Ident(name),
                }
            }
            Some(&c @ (b'+' | b'-' | b'*' | b'/' | b'(' | b')' | b'=' | b';')) => Tok::Punct(c),
            Some(_) => {
                let c = self.src[self.at..].chars().next().unwrap_or('?');
                return Err(self.error(self.at, format!("unexpected character {c:?}")));
            }
        };
        Ok(())
    }

    fn expect(&mut self, punct: u8) -> Result<(), ParseError> {
        if self.tok != Tok::Punct(punct) {
            return Err(self.expected(&Tok::Punct(punct).to_string()));
        }
        self.advance()
    }

    fn sym(&mut self, name: &str) -> Sym {
        let sym = self.b.intern(name);
        if sym as usize == self.bound.len() {
            self.bound.push(false);
        }
        sym
    }

    /// `program := ("let" NAME "=" expr ";")* expr EOF`
    fn program(mut self) -> Result<Program<B::L, B::A>, ParseError> {
        self.advance()?;
        let mut lets = Vec::new_in(self.b.list_alloc());
        while self.tok == Tok::Let {
            self.advance()?;
            let Tok::Ident(name) = self.tok else {
                return Err(self.expected("a name after `let`"));
            };
            self.advance()?;
            self.expect(b'=')?;
            let (value, _) = self.expr(0)?; // `name` is not bound in its own definition
            self.expect(b';')?;
            let sym = self.sym(name);
            self.bound[sym as usize] = true;
            lets.push((sym, value));
        }
        let (result, _) = self.expr(0)?;
        if self.tok != Tok::Eof {
            return Err(self.expected("an operator or the end of input"));
        }
        let syms = self.bound.len();
        Ok(Program { lets, result, syms })
    }

    /// Precedence climbing: parses operators that bind at least as tightly as
    /// `min_prec`. Returns the node and the depth of its tree.
    fn expr(&mut self, min_prec: u8) -> Result<(B::L, u32), ParseError> {
        let (mut lhs, mut depth) = self.unary()?;
        while let Tok::Punct(op @ (b'+' | b'-' | b'*' | b'/')) = self.tok {
            let prec = if op == b'+' || op == b'-' { 1 } else { 2 };
            if prec < min_prec {
                break;
            }
            let at = self.at;
            self.advance()?;
            let (rhs, rhs_depth) = self.expr(prec + 1)?; // `+ 1`: left-associative
            depth = depth.max(rhs_depth) + 1;
            if depth > MAX_DEPTH {
                return Err(self.error(at, "expression too deep".into()));
            }
            lhs = self.b.node(Expr::Bin(op, lhs, rhs));
        }
        Ok((lhs, depth))
    }

    fn unary(&mut self) -> Result<(B::L, u32), ParseError> {
        self.nest += 1;
        if self.nest > MAX_DEPTH {
            return Err(self.error(self.at, "expression nested too deeply".into()));
        }
        let (node, depth) = match self.tok {
            Tok::Punct(b'-') => {
                self.advance()?;
                let (e, depth) = self.unary()?;
                (self.b.node(Expr::Neg(e)), depth + 1)
            }
            Tok::Punct(b'(') => {
                self.advance()?;
                let e = self.expr(0)?;
                self.expect(b')')?;
                e
            }
            Tok::Num(n) => {
                self.advance()?;
                (self.b.node(Expr::Num(n)), 1)
            }
            Tok::Ident(name) => {
                let sym = self.sym(name);
                if !self.bound[sym as usize] {
                    return Err(self.error(self.at, format!("`{name}` is not bound")));
                }
                self.advance()?;
                (self.b.node(Expr::Var(sym)), 1)
            }
            _ => return Err(self.expected("an expression")),
        };
        self.nest -= 1;
        Ok((node, depth))
    }
}

// ----- evaluator --------------------------------------------------------------------

fn eval<L: Link>(e: &Expr<L>, env: &[i64]) -> i64 {
    match e {
        Expr::Num(n) => *n,
        Expr::Var(sym) => env[*sym as usize],
        Expr::Neg(x) => eval(x.get(), env).wrapping_neg(),
        Expr::Bin(op, l, r) => {
            let (a, b) = (eval(l.get(), env), eval(r.get(), env));
            match op {
                b'+' => a.wrapping_add(b),
                b'-' => a.wrapping_sub(b),
                b'*' => a.wrapping_mul(b),
                _ if b == 0 => 0,
                _ => a.wrapping_div(b), // wraps for i64::MIN / -1
            }
        }
    }
}

/// Runs a program: its result, and a checksum over every bound value.
fn run<L: Link, A: Allocator>(p: &Program<L, A>) -> (i64, i64) {
    let mut env = vec![0; p.syms]; // a plain `Vec`, the same for every allocator
    let mut checksum = 0i64;
    for (sym, e) in p.lets.iter() {
        env[*sym as usize] = eval(e.get(), &env);
        checksum = checksum.wrapping_mul(31).wrapping_add(env[*sym as usize]);
    }
    (eval(p.result.get(), &env), checksum)
}

/// Parses, runs and frees `src` in one scope of `arena`; also returns the bytes used.
pub(crate) fn run_in_arena(
    arena: &mut Arena,
    src: &str,
) -> Result<((i64, i64), usize), ParseError> {
    arena.scope(|s| {
        let program = parse_in(src, &*s)?;
        Ok((run(&program), s.used_bytes()))
    })
}

/// Parses, runs and frees `src` on bumpalo: the same code, then a reset.
pub(crate) fn run_in_bump(bump: &mut Bump, src: &str) -> Result<(i64, i64), ParseError> {
    let r = run(&parse_in(src, Bumpalo(bump))?);
    bump.reset();
    Ok(r)
}

/// Parses, runs and frees `src` on the global allocator: a `Box` tree, dropped node by
/// node.
pub(crate) fn run_on_heap(src: &str) -> Result<(i64, i64), ParseError> {
    Ok(run(&parse(src, &mut OnHeap(HashMap::new()))?))
}

// ----- input and benchmark ----------------------------------------------------------

struct Rng(u64);

impl Rng {
    /// xorshift64, reduced to `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn gen_expr(rng: &mut Rng, names: &[String], depth: u32, out: &mut String) {
    if depth == 0 || rng.below(4) == 0 {
        match rng.below(3) {
            0 => write!(out, "{}", rng.below(1000)).unwrap(),
            _ => out.push_str(&names[rng.below(names.len())]),
        }
        return;
    }
    match rng.below(8) {
        0 => {
            out.push('(');
            gen_expr(rng, names, depth - 1, out);
            out.push(')');
        }
        1 => {
            out.push('-');
            gen_expr(rng, names, depth - 1, out);
        }
        _ => {
            gen_expr(rng, names, depth - 1, out);
            out.push_str([" + ", " - ", " * ", " / "][rng.below(4)]);
            gen_expr(rng, names, depth - 1, out);
        }
    }
}

/// A program of `lets` bindings over 160,000 possible names, so many are rebound.
pub(crate) fn generate(lets: usize) -> String {
    const WORDS: [&str; 8] = ["x", "count", "total", "alpha", "beta", "tmp", "acc", "off"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::from("let seed = 12345;\n");
    let mut names = vec!["seed".to_string()];
    for _ in 0..lets {
        let name = format!("{}{}", WORDS[rng.below(WORDS.len())], rng.below(20_000));
        write!(out, "let {name} = ").unwrap();
        gen_expr(&mut rng, &names, 3, &mut out);
        out.push_str(";\n");
        names.push(name);
    }
    out + &names[names.len() - 8..].join(" + ")
}

/// The best time of 5 runs of `f`, and its result (checked to be the same every run).
fn best_of<R: PartialEq + fmt::Debug>(mut f: impl FnMut() -> R) -> (Duration, R) {
    let start = Instant::now();
    let first = f();
    let mut best = start.elapsed();
    for _ in 1..5 {
        let start = Instant::now();
        assert_eq!(f(), first);
        best = best.min(start.elapsed());
    }
    (best, first)
}

fn main() {
    let mut arena = Arena::new();

    let demo = "let a = 6;\nlet b = a * (2 + -1);\nb / 0 + a * 7";
    let ((value, _), _) = run_in_arena(&mut arena, demo).unwrap();
    println!("{demo:?} = {value}");
    assert_eq!(value, 42);
    for bad in [
        "let x = 1 +;",
        "let x = 2;\nx * y",
        "let 7 = 1; 7",
        "(1 + 2",
        "1 $ 2",
    ] {
        let err = run_in_arena(&mut arena, bad).unwrap_err();
        println!("{bad:?}: error {err}");
    }
    for deep in [
        "-".repeat(99_999),
        "(".repeat(99_999),
        "1 + ".repeat(99_999) + "1",
    ] {
        assert!(
            run_in_arena(&mut arena, &deep).is_err(),
            "too deep, but no crash"
        );
    }

    const LETS: usize = 200_000;
    let src = generate(LETS);
    let mb = src.len() as f64 / 1e6;
    println!("\n{LETS} lets, {mb:.1} MB: parse, evaluate and free, best of 5\n");

    let (t_kit, (r_kit, used)) = best_of(|| run_in_arena(&mut arena, &src).unwrap());

    let mut bump = Bump::new();
    let (t_bump, r_bump) = best_of(|| run_in_bump(&mut bump, &src).unwrap());

    // The program and the names are dropped inside the timed closure.
    let (t_heap, r_heap) = best_of(|| run_on_heap(&src).unwrap());

    assert_eq!(r_kit, r_bump, "allockit and bumpalo disagree");
    assert_eq!(r_kit, r_heap, "allockit and global disagree");

    println!("allocator              time    per let  vs allockit");
    for (name, t) in [
        ("allockit scope", t_kit),
        ("bumpalo", t_bump),
        ("global", t_heap),
    ] {
        let (ms, ns) = (t.as_secs_f64() * 1e3, t.as_secs_f64() * 1e9 / LETS as f64);
        let ratio = t.as_secs_f64() / t_kit.as_secs_f64();
        println!("{name:<16} {ms:>7.2} ms {ns:>7.0} ns {ratio:>11.2}x");
    }
    let mib = |bytes: usize| bytes as f64 / (1 << 20) as f64;
    println!(
        "\nresult {}, checksum {:#018x}; arena: {:.1} MiB used per round, {:.1} MiB reserved",
        r_kit.0,
        r_kit.1,
        mib(used),
        mib(arena.reserved_bytes())
    );
}
