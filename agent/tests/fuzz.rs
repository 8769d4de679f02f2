//! The buildspec fuzzer, for a bounded time (`RUNSPEC_FUZZ_SECONDS`, default 30): no input
//! may panic parse → validate → render, and none may take long. The long run with a million
//! inputs and more is `bench/fuzz.sh` (numbers in BENCHMARKS.md).

#[path = "fuzz/harness.rs"]
mod harness;

use std::path::Path;
use std::time::Duration;

#[test]
fn mutated_buildspecs_never_panic_or_hang() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let secs: u64 = std::env::var("RUNSPEC_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    // A new seed each run widens what CI covers over time; the seed is printed to reproduce.
    let seed: u64 =
        std::env::var("RUNSPEC_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        });
    let crashes = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    let out = harness::run(repo, seed, u64::MAX, Duration::from_secs(secs), Some(&crashes));
    println!(
        "seed {seed}: {} inputs in {:.1?}, slowest #{} in {:.1?}, {} panics",
        out.inputs,
        out.elapsed,
        out.slowest.0,
        out.slowest.1,
        out.panics.len()
    );
    assert!(out.inputs >= 1000, "only {} inputs", out.inputs);
    assert!(
        out.panics.is_empty(),
        "seed {seed}: {} panics (inputs saved in {}), first: {:?}",
        out.panics.len(),
        crashes.display(),
        out.panics.first()
    );
    // Debug build, one core: a buildspec of a few hundred KB takes milliseconds.
    assert!(
        out.slowest.1 < Duration::from_secs(5),
        "seed {seed}: input #{} took {:?}",
        out.slowest.0,
        out.slowest.1
    );
}
