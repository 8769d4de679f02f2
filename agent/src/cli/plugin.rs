//! `runspec plugin run|inspect|new`: plugins outside a buildspec.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{UsageError, exit, usage};
use crate::engine::events::{BuildEvent, EventSink};
use crate::log::mask::{Masker, MaskingSink};
use crate::plugins::invocation::RunPluginArgs;
use crate::plugins::runner::Runner;
use crate::plugins::{BuildMetadata, PluginEvent, PluginHost};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Run one plugin with the same sandbox as a buildspec plugin step. In a buildspec command
    /// that is exactly this invocation, runspec runs it in-process; anywhere else (e.g. real
    /// CodeBuild with runspec in the image) it runs as this command. Exit status 0 when the
    /// plugin succeeds, 1 when it fails, 2 for bad flags.
    Run(RunPluginArgs),
    /// Show what a plugin is: its digest, size, the runspec:plugin version it was built for,
    /// its imports and exports, and whether this runspec can run it.
    Inspect(InspectArgs),
    /// Create a new Rust plugin crate that builds for wasm32-wasip2 as it is.
    New(NewArgs),
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The plugin: a path, https://…#sha256=<hex> or oci://…@sha256:<hex>.
    #[arg(value_name = "PLUGIN")]
    pub plugin: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The crate name; also the directory created (must not exist).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Where the runspec-sdk crate is (a path dependency). Default: the SDK next to this
    /// runspec's sources when they are present, else runspec-sdk from crates.io.
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
}

pub fn main(cmd: PluginCommand) -> Result<u8, UsageError> {
    let runtime = super::runtime()?;
    match cmd {
        PluginCommand::Run(args) => runtime.block_on(run(args)),
        PluginCommand::Inspect(args) => runtime.block_on(inspect(args)),
        PluginCommand::New(args) => new(&args),
    }
}

/// Build metadata from the CODEBUILD_* variables of this process (set on CodeBuild and in
/// runspec builds), with neutral defaults elsewhere.
fn metadata_from_env() -> BuildMetadata {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let build_id = var("CODEBUILD_BUILD_ID").unwrap_or_else(|| "local:0".to_string());
    BuildMetadata {
        project_name: build_id.split(':').next().unwrap_or("local").to_string(),
        build_id,
        build_number: var("CODEBUILD_BUILD_NUMBER").and_then(|n| n.parse().ok()).unwrap_or(0),
        source_version: var("CODEBUILD_RESOLVED_SOURCE_VERSION"),
        initiator: var("CODEBUILD_INITIATOR").unwrap_or_else(|| var("USER").unwrap_or_default()),
        region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_default(),
    }
}

/// Plugin output straight to stdout; log lines as `[LEVEL] message`.
struct Stdout;

impl EventSink for Stdout {
    fn event(&mut self, event: BuildEvent<'_>) {
        if let BuildEvent::PluginLog { level, message } = event {
            let _ = writeln!(std::io::stdout(), "[{level}] {message}");
        }
    }

    fn output(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
}

async fn run(args: RunPluginArgs) -> Result<u8, UsageError> {
    let inv = args.invocation().map_err(usage)?;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => match std::env::var_os("CODEBUILD_SRC_DIR") {
            Some(d) => PathBuf::from(d),
            None => std::env::current_dir()
                .map_err(|e| usage(format!("cannot read the current directory: {e}")))?,
        },
    };
    if !dir.is_dir() {
        return Err(usage(format!("`{}` is not a directory", dir.display())));
    }
    let env: Vec<(String, String)> =
        inv.grants.env.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v))).collect();
    let mut runner = Runner::new(dir, PluginHost::default_cache_dir(), metadata_from_env());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let mut stop = crate::exec::Stop::new(None, stop_rx);
    let mut sink = MaskingSink::new(Stdout, Masker::new(std::iter::empty::<&str>()));
    let mut events = crate::engine::events::PluginEvents::default();
    let ran = {
        let mut forward = |ev: PluginEvent| events.forward(&mut sink, ev);
        runner.run(&inv, &inv.reference, env, &mut forward, &mut stop).await
    };
    events.finish(&mut sink);
    sink.event(BuildEvent::Note(""));
    let digest = ran.short_digest();
    match &ran.report.outcome {
        Ok(out) => {
            let masker = sink.masker();
            println!("{} ({digest}): {}", inv.reference, masker.mask_str(&out.message));
            if let Some(file) = &args.export_to {
                let text: String = out
                    .exported_env
                    .iter()
                    .map(|(k, v)| format!("export {k}={}\n", crate::exec::wrapper::sh_quote(v)))
                    .collect();
                std::fs::write(file, text)
                    .map_err(|e| usage(format!("cannot write `{}`: {e}", file.display())))?;
            } else if !out.exported_env.is_empty() {
                let names: Vec<&str> = out.exported_env.iter().map(|(k, _)| k.as_str()).collect();
                eprintln!(
                    "note: the plugin exported {}; use --export-to FILE to keep them",
                    names.join(", ")
                );
            }
            for a in &out.artifacts {
                println!("artifact: {a}");
            }
            Ok(exit::OK)
        }
        Err(_) => {
            let reason = ran.reason().unwrap_or_default();
            let masker = sink.masker();
            eprintln!("error: plugin {} {digest}: {}", inv.reference, masker.mask_str(&reason));
            Ok(exit::FAILED)
        }
    }
}

async fn inspect(args: InspectArgs) -> Result<u8, UsageError> {
    let r = crate::plugins::reference::parse(&args.plugin).map_err(usage)?;
    let cwd =
        std::env::current_dir().map_err(|e| usage(format!("cannot read the current directory: {e}")))?;
    let cache = PluginHost::default_cache_dir();
    let bytes = crate::plugins::fetch::fetch(&r, &cwd, cache.as_deref()).await.map_err(usage)?;
    let digest = crate::plugins::host::hex(&sha2::Digest::finalize(
        <sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes),
    ));
    crate::plugins::inspect::check_header(&bytes).map_err(|e| usage(format!("{}: {e}", args.plugin)))?;
    let host = PluginHost::new(cache).map_err(usage)?;
    let component = host.compile(&bytes, &digest).map_err(|e| usage(format!("{}: {e}", args.plugin)))?;
    let d = crate::plugins::inspect::Describe::of(host.engine(), &component);
    let runnable = d.check_runnable();
    let linked = runnable.as_ref().ok().map(|_| host.load(&bytes).map(|_| ()));
    let verdict: Result<(), String> = match (&runnable, linked) {
        (Err(e), _) => Err(e.clone()),
        (Ok(_), Some(Err(e))) => Err(e),
        _ => Ok(()),
    };
    if args.json {
        let json = serde_json::json!({
            "plugin": args.plugin,
            "sha256": digest,
            "size": bytes.len(),
            "wit": d.wit_version().map(|v| format!("runspec:plugin@{v}")),
            "imports": d.imports,
            "exports": d.exports,
            "runnable": verdict.is_ok(),
            "problem": verdict.as_ref().err(),
            "sandbox": sandbox_lines(),
            "exportRule": {
                "grant": "allow.export",
                "maxValueBytes": crate::plugins::exports::MAX_VALUE_BYTES,
                "maxTotalBytes": crate::plugins::exports::MAX_TOTAL_BYTES,
                "never": crate::plugins::exports::DENIED
                    .iter()
                    .map(|d| serde_json::json!({"names": d.names, "why": d.why}))
                    .collect::<Vec<_>>(),
            },
        });
        println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
    } else {
        println!("plugin:   {}", args.plugin);
        println!("sha256:   {digest}");
        println!("size:     {} bytes", bytes.len());
        match d.wit_version() {
            Some(v) => println!("wit:      runspec:plugin@{v}"),
            None => println!("wit:      (imports nothing from runspec:plugin)"),
        }
        println!("imports:");
        for i in &d.imports {
            println!("  {i}");
        }
        println!("exports:");
        for e in &d.exports {
            println!("  {e}");
        }
        match &verdict {
            Ok(()) => println!("runnable: yes"),
            Err(e) => println!("runnable: no: {e}"),
        }
        println!("sandbox (what a step grants decides; everything else is denied):");
        for line in sandbox_lines() {
            println!("  {line}");
        }
        println!("variables it may set for later commands:");
        for line in crate::plugins::exports::describe() {
            println!("  {line}");
        }
    }
    Ok(if verdict.is_ok() { exit::OK } else { exit::FAILED })
}

/// What any plugin step gets, and which grant widens it.
fn sandbox_lines() -> Vec<String> {
    vec![
        "files: the source directory at /src, read-only (allow.write: true makes it writable)".to_string(),
        "environment: none (allow.env: [NAMES])".to_string(),
        "network: none (allow.network: [host:port]; only those host names resolve, in runspec)".to_string(),
        format!("memory: {} MiB (allow.memory, up to 4 GiB)", crate::plugins::DEFAULT_MEMORY_LIMIT >> 20),
        format!(
            "time: {} minutes, or the step's timeout, within the build's timeout",
            crate::plugins::DEFAULT_STEP_TIMEOUT.as_secs() / 60
        ),
    ]
}

fn new(args: &NewArgs) -> Result<u8, UsageError> {
    let name = &args.name;
    let valid = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(usage(format!(
            "`{name}` is not a crate name (letters, digits, `-`, `_`; starting with a letter)"
        )));
    }
    let dir = Path::new(name);
    if dir.exists() {
        return Err(usage(format!("`{name}` already exists")));
    }
    let sdk = match &args.sdk {
        Some(p) => Some(p.canonicalize().map_err(|e| usage(format!("--sdk {}: {e}", p.display())))?),
        None => {
            let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
            beside.join("Cargo.toml").is_file().then(|| beside.canonicalize().ok()).flatten()
        }
    };
    let dependency = match &sdk {
        Some(p) => format!("runspec-sdk = {{ path = \"{}\" }}", p.display()),
        None => format!("runspec-sdk = \"{}\"", env!("CARGO_PKG_VERSION")),
    };
    let files: [(&str, String); 4] = [
        (
            "Cargo.toml",
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n{dependency}\n\n[profile.release]\nopt-level = \"s\"\nlto = true\nstrip = true\n\n# Not part of any enclosing workspace.\n[workspace]\n"
            ),
        ),
        (".cargo/config.toml", "[build]\ntarget = \"wasm32-wasip2\"\n".to_string()),
        ("src/lib.rs", TEMPLATE.to_string()),
        (
            "README.md",
            format!(
                "# {name}\n\nA runspec build-step plugin.\n\n```sh\nrustup target add wasm32-wasip2   # once\ncargo build --release\nrunspec plugin run target/wasm32-wasip2/release/{file}.wasm --with name=world --allow-export GREETED\n```\n\nIn a buildspec (the plugin sets `GREETED` for later commands only because the step grants it):\n\n```yaml\n{step}```\n",
                file = name.replace('-', "_"),
                step = step(&name.replace('-', "_")),
            ),
        ),
    ];
    for (path, text) in &files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| usage(format!("cannot create `{}`: {e}", parent.display())))?;
        }
        std::fs::write(&p, text).map_err(|e| usage(format!("cannot write `{}`: {e}", p.display())))?;
    }
    let file = name.replace('-', "_");
    println!("Created plugin crate `{name}`. Build it with:\n  cd {name} && cargo build --release");
    println!(
        "then run it with:\n  runspec plugin run target/wasm32-wasip2/release/{file}.wasm --with name=world --allow-export GREETED"
    );
    println!("or as a step of a buildspec in {name}/:\n{}", step(&file));
    Ok(exit::OK)
}

/// The scaffold's step for a buildspec's `commands:`, with the grant its export needs.
fn step(file: &str) -> String {
    format!(
        "      - plugin: ./target/wasm32-wasip2/release/{file}.wasm\n        with: {{ name: world }}\n        allow: {{ export: [GREETED] }}\n"
    )
}

const TEMPLATE: &str = r#"//! A runspec build-step plugin. `run` is called once per step, in a fresh sandbox: the build's
//! source directory is the current directory (read-only unless the step has `allow: { write: true }`),
//! only variables listed in `allow.env` are set, and there is no network. It may set variables
//! for later commands only when the step grants them: `allow: { export: [GREETED] }`.

use runspec_sdk::{Context, Error, Output, Plugin, log};

struct Step;

impl Plugin for Step {
    fn run(ctx: &Context) -> Result<Output, Error> {
        ctx.expect_args(&["name"])?;
        let name: String = ctx.arg_or("name", "world".to_string())?;
        log::info(&format!("saying hello to {name}"));
        println!("hello, {name}");
        Ok(Output::new(format!("greeted {name}")).export("GREETED", name))
    }
}

runspec_sdk::export!(Step);
"#;
