//! Test plugin: `with: { mode: …, target: … }` tries one thing and reports what happened.
//! Success means the attempt worked; the tests assert which attempts must fail.

use std::io::Write;

use runspec_sdk::{Context, Error, Output, Plugin, log};

struct Probe;

impl Plugin for Probe {
    fn run(ctx: &Context) -> Result<Output, Error> {
        let mode: String = ctx.arg("mode")?;
        let target: String = ctx.arg_or("target", String::new())?;
        match mode.as_str() {
            "ok" => Ok(Output::new("probe ok")),
            "read" => {
                let text = std::fs::read_to_string(&target)
                    .map_err(|e| Error::Failed(format!("read {target}: {e}")))?;
                println!("read {} bytes from {target}", text.len());
                Ok(Output::new(format!("read {target}: {}", text.lines().next().unwrap_or(""))))
            }
            "list" => {
                let names: Vec<String> = std::fs::read_dir(&target)
                    .map_err(|e| Error::Failed(format!("list {target}: {e}")))?
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect();
                Ok(Output::new(format!("listed {target}: {}", names.len())))
            }
            "write" => {
                std::fs::write(&target, b"written by probe\n")
                    .map_err(|e| Error::Failed(format!("write {target}: {e}")))?;
                Ok(Output::new(format!("wrote {target}")).artifact(target))
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{}", vars.join("\n"));
                let mut out = Output::new(format!("{} variables", vars.len()));
                for (k, v) in &ctx.env {
                    out = out.export(format!("SEEN_{k}"), v.clone());
                }
                Ok(out)
            }
            "connect" => {
                std::net::TcpStream::connect(&target)
                    .map_err(|e| Error::Failed(format!("connect {target}: {e}")))?;
                Ok(Output::new(format!("connected to {target}")))
            }
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(vec![1u8; 16 << 20]);
                }
            }
            "panic" => panic!("probe panicked on purpose"),
            "stack" => {
                fn deep(n: u64) -> u64 {
                    if n == u64::MAX {
                        return 0;
                    }
                    let buf = std::hint::black_box([n; 64]);
                    deep(n + 1) + buf[3]
                }
                Ok(Output::new(format!("{}", deep(0))))
            }
            "print" => {
                let bytes: u64 = ctx.arg_or("bytes", 1024)?;
                let line = [b'x'; 1023];
                let mut out = std::io::stdout().lock();
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(1024) as usize;
                    if n == 1024 {
                        out.write_all(&line).and_then(|_| out.write_all(b"\n"))?;
                    } else {
                        out.write_all(&line[..n])?;
                    }
                    left -= n as u64;
                }
                Ok(Output::new(format!("printed {bytes} bytes")))
            }
            "secret" => {
                runspec_sdk::mask_secret(&target);
                println!("the token is {target}");
                log::warn(&format!("logged token {target}"));
                eprintln!("stderr token {target}");
                Ok(Output::new("masked"))
            }
            "export" => {
                let (k, v) = target.split_once('=').unwrap_or((&target, ""));
                Ok(Output::new("exported").export(k, v))
            }
            "exports" => {
                // `vars: { NAME: value, … }` (JSON text): exports each, for the export rule.
                let vars: String = ctx.arg("vars")?;
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&vars).map_err(|e| Error::InvalidArgs(format!("vars: {e}")))?;
                let mut out = Output::new(format!("exported {}", map.len()));
                for (k, v) in map {
                    out = out.export(k, v.as_str().unwrap_or_default());
                }
                Ok(out)
            }
            "say" => {
                // Says `target` on every channel an agent line carries: log, message, failure.
                log::info(&target);
                println!("{target}");
                if ctx.arg_or("fail", false)? {
                    return Err(Error::Failed(target));
                }
                Ok(Output::new(target))
            }
            "big" => {
                // `what`: export | message | log | print, `bytes` long.
                let what: String = ctx.arg("what")?;
                let bytes: u64 = ctx.arg_or("bytes", 15 << 20)?;
                let value = "v".repeat(bytes as usize);
                match what.as_str() {
                    "export" => Ok(Output::new("big export").export("BIG", value)),
                    "message" => Ok(Output::new(value)),
                    "log" => {
                        log::info(&value);
                        Ok(Output::new("big log line"))
                    }
                    other => Err(Error::InvalidArgs(format!("what: {other}"))),
                }
            }
            "mask" => {
                // `count` values of `bytes` bytes each (repetitive ones are the costly kind).
                let count: u64 = ctx.arg_or("count", 1)?;
                let bytes: u64 = ctx.arg_or("bytes", 16)?;
                for i in 0..count {
                    let mut v = format!("{i:08}-");
                    while (v.len() as u64) < bytes {
                        v.push('a');
                    }
                    runspec_sdk::mask_secret(&v);
                }
                Ok(Output::new(format!("registered {count}")))
            }
            "sleep" => {
                // Waits in a host call (WASI monotonic clock), not in wasm.
                let secs: u64 = ctx.arg_or("secs", 3600)?;
                std::thread::sleep(std::time::Duration::from_secs(secs));
                Ok(Output::new("slept"))
            }
            "exit" => {
                let code: i32 = ctx.arg_or("code", 0)?;
                std::process::exit(code)
            }
            "resolve" => {
                use std::net::ToSocketAddrs;
                match (target.as_str(), 80).to_socket_addrs() {
                    Ok(addrs) => Ok(Output::new(format!("resolved {target}: {}", addrs.count()))),
                    Err(e) => Err(Error::Failed(format!("resolve {target}: {e}"))),
                }
            }
            "metadata" => {
                let m = runspec_sdk::build_metadata();
                Ok(Output::new(format!(
                    "build {} #{} of {} in {}",
                    m.build_id, m.build_number, m.project_name, m.region
                )))
            }
            "args" => {
                let mut parts = Vec::new();
                for (k, v) in &ctx.args {
                    parts.push(format!("{k}={v:?}"));
                }
                Ok(Output::new(parts.join(" ")))
            }
            "fail" => Err(Error::Failed(format!("probe failed: {target}"))),
            "cwd" => Ok(Output::new(format!(
                "cwd {} wd {}",
                std::env::current_dir()?.display(),
                ctx.working_dir()
            ))),
            other => Err(Error::InvalidArgs(format!("unknown mode `{other}`"))),
        }
    }
}

runspec_sdk::export!(Probe);
