//! The buildspec fuzzer's long run: `cargo run --release -p runspec --example fuzz_buildspec --
//! [--inputs N] [--seed S] [--save DIR] [--dump N]`. Prints one line: inputs, panics, the slowest input,
//! throughput. Exit status 1 when anything panicked. See `bench/fuzz.sh`.

#[path = "../tests/fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

fn main() -> std::process::ExitCode {
    let mut inputs: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut save: Option<PathBuf> = None;
    let mut dump: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--inputs" => inputs = v.parse().expect("--inputs N"),
            "--seed" => seed = v.parse().expect("--seed S"),
            "--save" => save = Some(PathBuf::from(v)),
            "--dump" => dump = Some(v.parse().expect("--dump N")),
            other => {
                eprintln!("unknown argument {other}; use --inputs N --seed S --save DIR");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    if let Some(n) = dump {
        // Input number N of the seed, to stdout, to reproduce what a run reported.
        let mut inputs_gen = harness::Inputs::new(repo, seed);
        for _ in 0..n {
            inputs_gen.next();
        }
        print!("{}", inputs_gen.next());
        return std::process::ExitCode::SUCCESS;
    }
    let out = harness::run(repo, seed, inputs, Duration::MAX, save.as_deref());
    println!(
        "seed {seed}: {} inputs, {} panics, {} slower than {:?}, slowest #{} in {:.1?}, {:.0} inputs/s",
        out.inputs,
        out.panics.len(),
        out.slow.len(),
        harness::SLOW,
        out.slowest.0,
        out.slowest.1,
        out.inputs as f64 / out.elapsed.as_secs_f64()
    );
    for (n, message, start) in out.panics.iter().take(5) {
        println!("  #{n}: {message}\n    input starts {start:?}");
    }
    for (n, took) in out.slow.iter().take(5) {
        println!("  #{n} took {took:.1?} (reproduce with --seed {seed} --dump {n})");
    }
    std::process::ExitCode::from(u8::from(!out.panics.is_empty() || !out.slow.is_empty()))
}
