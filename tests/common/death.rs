//! Death tests: run an attack in a child process and report how the child ended.
//!
//! The test binary re-executes itself with `<test> --exact --nocapture` and an
//! environment variable naming the test; in the child, [`run`] performs the attack.

use std::process::Command;

/// How a child that ran an attack ended.
pub struct Ended {
    /// The child's exit status (`Debug` for messages).
    pub status: std::process::ExitStatus,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Under AddressSanitizer a fault is reported by ASan, which then exits with code 1.
    pub asan_fault: bool,
}

/// In the child (the variable `var` names `test`), runs `attack` and returns `None`; in
/// the parent, runs the child and returns how it ended.
pub fn run(var: &str, test: &str, attack: fn()) -> Option<Ended> {
    if std::env::var(var).as_deref() == Ok(test) {
        attack();
        eprintln!("the attack {test} returned");
        return None;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, test)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Some(Ended {
        status: out.status,
        signal: std::os::unix::process::ExitStatusExt::signal(&out.status),
        asan_fault: stderr.contains("AddressSanitizer: SEGV"),
        stderr,
    })
}
