//! A runtime catalog for builds on the host, derived from the version managers installed here:
//! pyenv, nvm and n, goenv, rbenv, phpenv, sdkman and jenv (java), asdf, mise, and rustup.
//!
//! Only directories are read (each manager keeps one folder per installed version), so finding
//! the catalog costs a few `readdir`s, not a run of each manager. A version entry puts that
//! version's `bin` first on the build's PATH and sets the manager's own version variable
//! (`PYENV_VERSION`, …), so the build's commands get exactly it and the user's global setting
//! is left alone. Where a manager can install versions, the runtime's `default` entry installs
//! a version that is missing through it; a version that is neither installed nor installable is
//! an error, never another version.

use std::path::{Path, PathBuf};

use super::catalog::{Catalog, Runtime, Version};
use super::select::compare_versions;

/// What [`catalog`] looks at, for messages.
pub const MANAGERS: &str = "pyenv, nvm, n, goenv, rbenv, phpenv, sdkman, jenv, asdf, mise or rustup";

/// The environment lookups of the agent (a function, so tests can give their own).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One installed version of a runtime.
#[derive(Debug, Clone, PartialEq)]
struct Installed {
    /// `3.12.1`, `20.11.0`, `17.0.9`.
    version: String,
    /// `corretto` / `openjdk` for java, empty otherwise.
    vendor: String,
    /// The directory whose `bin` holds the tools (a JDK home for java).
    home: PathBuf,
    /// Extra commands after PATH (the manager's own version variable).
    select: Vec<String>,
    manager: &'static str,
}

/// How a runtime is named in CodeBuild and in the managers.
struct RuntimeKind {
    name: &'static str,
    label: &'static str,
    /// Tool name in asdf and in mise.
    asdf: &'static str,
    mise: &'static str,
}

const KINDS: &[RuntimeKind] = &[
    RuntimeKind { name: "python", label: "Python", asdf: "python", mise: "python" },
    RuntimeKind { name: "nodejs", label: "Node.js", asdf: "nodejs", mise: "node" },
    RuntimeKind { name: "golang", label: "Go", asdf: "golang", mise: "go" },
    RuntimeKind { name: "ruby", label: "Ruby", asdf: "ruby", mise: "ruby" },
    RuntimeKind { name: "php", label: "PHP", asdf: "php", mise: "php" },
    RuntimeKind { name: "java", label: "Java", asdf: "java", mise: "java" },
    RuntimeKind { name: "rust", label: "Rust", asdf: "rust", mise: "rust" },
];

/// Where the system's own packages put runtimes (Debian and Ubuntu's `openjdk-*-jdk` and
/// Corretto's packages; Go's release tarball and Debian's `golang-1.N`).
pub struct SystemDirs {
    pub jvm: PathBuf,
    pub go: Vec<PathBuf>,
}

impl Default for SystemDirs {
    fn default() -> Self {
        let mut go = vec![PathBuf::from("/usr/local/go")];
        if let Ok(read) = std::fs::read_dir("/usr/lib") {
            go.extend(
                read.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("go-"))
                    .map(|e| e.path()),
            );
        }
        SystemDirs { jvm: PathBuf::from("/usr/lib/jvm"), go }
    }
}

/// The catalog of this machine for the runtimes named in `wanted` (all when `None`).
pub fn catalog(env: Lookup<'_>, wanted: Option<&[&str]>) -> Catalog {
    catalog_with(env, wanted, &SystemDirs::default())
}

/// [`catalog`] with the system directories given.
pub fn catalog_with(env: Lookup<'_>, wanted: Option<&[&str]>, system: &SystemDirs) -> Catalog {
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let dir = |var: &str, fallback: &str| -> PathBuf {
        env(var).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| home.join(fallback))
    };
    let xdg_data = env("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".local/share"));
    let asdf = dir("ASDF_DATA_DIR", ".asdf");
    let mise = env("MISE_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| xdg_data.join("mise"));
    let mut out = Catalog::default();
    for kind in KINDS {
        if wanted.is_some_and(|w| !w.contains(&kind.name)) {
            continue;
        }
        let mut found: Vec<Installed> = Vec::new();
        let mut default: Option<Vec<String>> = None;
        let mut add = |list: Vec<Installed>, install: Option<Vec<String>>, found: &mut Vec<Installed>| {
            if default.is_none() {
                default = install;
            }
            for i in list {
                if !found.iter().any(|f| (f.version == i.version && f.vendor == i.vendor) || f.home == i.home)
                {
                    found.push(i);
                }
            }
        };
        match kind.name {
            "python" => {
                let root = dir("PYENV_ROOT", ".pyenv");
                add(
                    env_manager(&root, "pyenv", "PYENV_VERSION"),
                    env_install(&root, "pyenv", "PYENV_VERSION", kind.label),
                    &mut found,
                );
            }
            "golang" => {
                let root = dir("GOENV_ROOT", ".goenv");
                add(
                    env_manager(&root, "goenv", "GOENV_VERSION"),
                    env_install(&root, "goenv", "GOENV_VERSION", kind.label),
                    &mut found,
                );
                add(system_go(&system.go), None, &mut found);
            }
            "ruby" => {
                let root = dir("RBENV_ROOT", ".rbenv");
                add(
                    env_manager(&root, "rbenv", "RBENV_VERSION"),
                    env_install(&root, "rbenv", "RBENV_VERSION", kind.label),
                    &mut found,
                );
            }
            "php" => {
                let root = dir("PHPENV_ROOT", ".phpenv");
                add(
                    env_manager(&root, "phpenv", "PHPENV_VERSION"),
                    env_install(&root, "phpenv", "PHPENV_VERSION", kind.label),
                    &mut found,
                );
            }
            "nodejs" => {
                let nvm = dir("NVM_DIR", ".nvm");
                add(nvm_versions(&nvm), nvm.join("nvm.sh").is_file().then(|| nvm_install(&nvm)), &mut found);
                let n = env("N_PREFIX")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/usr/local"));
                add(plain_versions(&n.join("n/versions/node"), "n", &[]), None, &mut found);
            }
            "java" => {
                let sdkman = dir("SDKMAN_DIR", ".sdkman");
                add(java_versions(&sdkman.join("candidates/java"), "sdkman"), None, &mut found);
                let jenv = dir("JENV_ROOT", ".jenv");
                add(java_versions(&jenv.join("versions"), "jenv"), None, &mut found);
                add(java_versions(&system.jvm, "system"), None, &mut found);
            }
            "rust" => {
                let rustup = dir("RUSTUP_HOME", ".rustup");
                add(
                    rustup_versions(&rustup.join("toolchains")),
                    rustup.join("toolchains").is_dir().then(rustup_install),
                    &mut found,
                );
            }
            _ => {}
        }
        // asdf and mise keep every tool the same way.
        let asdf_var = format!("ASDF_{}_VERSION", kind.asdf.to_ascii_uppercase());
        let asdf_list = if kind.name == "java" {
            java_versions(&asdf.join("installs").join(kind.asdf), "asdf")
        } else {
            plain_versions(&asdf.join("installs").join(kind.asdf), "asdf", &[format!("export {asdf_var}=")])
        };
        add(asdf_list, None, &mut found);
        let mise_var = format!("MISE_{}_VERSION", kind.mise.to_ascii_uppercase());
        let mise_list = if kind.name == "java" {
            java_versions(&mise.join("installs").join(kind.mise), "mise")
        } else {
            plain_versions(&mise.join("installs").join(kind.mise), "mise", &[format!("export {mise_var}=")])
        };
        add(mise_list, None, &mut found);
        if found.is_empty() && default.is_none() {
            continue;
        }
        out.runtimes.push(entries(kind, found, default));
    }
    out
}

/// Version keys for what is installed: the full version and the one CodeBuild names (the
/// minor for most runtimes, the major for Node.js, `corretto17` for java), each the newest
/// installed one that fits.
fn entries(kind: &RuntimeKind, mut found: Vec<Installed>, default: Option<Vec<String>>) -> Runtime {
    found.sort_by(|a, b| compare_versions(&b.version, &a.version));
    let mut versions: Vec<Version> = Vec::new();
    let push = |name: String, i: &Installed, versions: &mut Vec<Version>| {
        if versions.iter().any(|v| v.name == name) {
            return;
        }
        let mut commands = vec![format!("echo \"Using {} {} ({})\"", kind.label, i.version, i.manager)];
        if kind.name == "java" {
            commands.push(format!("export JAVA_HOME={}", sh(&i.home)));
        }
        if kind.name != "rust" {
            commands.push(format!("export PATH={}:\"$PATH\"", sh(&i.home.join("bin"))));
        }
        commands.extend(i.select.iter().cloned());
        versions.push(Version { name, commands, requires: Vec::new() });
    };
    for i in &found {
        let parts: Vec<&str> = i.version.split(['.', '+', '-']).collect();
        let short = match kind.name {
            "nodejs" => parts[0].to_string(),
            "java" => format!("{}{}", i.vendor, parts[0]),
            _ if parts.len() >= 2 => format!("{}.{}", parts[0], parts[1]),
            _ => i.version.clone(),
        };
        push(short, i, &mut versions);
    }
    for i in &found {
        let full = if kind.name == "java" { format!("{}{}", i.vendor, i.version) } else { i.version.clone() };
        push(full, i, &mut versions);
    }
    Runtime { name: kind.name.to_string(), versions, default }
}

/// Single-quoted for sh.
fn sh(p: &Path) -> String {
    crate::exec::wrapper::sh_quote(&p.to_string_lossy())
}

/// Names of the subdirectories of `dir` that look like versions (start with a digit, after an
/// optional `v`).
fn version_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in read.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let version = name.strip_prefix('v').unwrap_or(&name).to_string();
        if version.starts_with(|c: char| c.is_ascii_digit()) && e.path().is_dir() {
            out.push((version, e.path()));
        }
    }
    out
}

/// pyenv, goenv, rbenv, phpenv: `<root>/versions/<v>/bin`.
fn env_manager(root: &Path, manager: &'static str, var: &str) -> Vec<Installed> {
    version_dirs(&root.join("versions"))
        .into_iter()
        .map(|(version, home)| Installed {
            select: vec![format!("export {var}={}", crate::exec::wrapper::sh_quote(&dir_name(&home)))],
            version,
            vendor: String::new(),
            home,
            manager,
        })
        .collect()
}

fn dir_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The `default` entry of pyenv-like managers: install with the manager, then select.
fn env_install(root: &Path, manager: &str, var: &str, label: &str) -> Option<Vec<String>> {
    if !root.join("versions").is_dir() {
        return None;
    }
    Some(vec![
        format!("echo \"Installing {label} $VERSION with {manager} ...\""),
        format!("{manager} install --skip-existing \"$VERSION\""),
        format!("export {var}=\"$({manager} latest \"$VERSION\")\""),
        format!("export PATH=\"$({manager} root)/versions/${var}/bin:$PATH\""),
    ])
}

/// asdf, mise, n: `<dir>/<v>/bin`; `select` lines get the version appended.
fn plain_versions(dir: &Path, manager: &'static str, select: &[String]) -> Vec<Installed> {
    version_dirs(dir)
        .into_iter()
        .map(|(version, home)| Installed {
            select: select
                .iter()
                .map(|s| format!("{s}{}", crate::exec::wrapper::sh_quote(&dir_name(&home))))
                .collect(),
            version,
            vendor: String::new(),
            home,
            manager,
        })
        .collect()
}

/// nvm: `$NVM_DIR/versions/node/v<v>/bin`.
fn nvm_versions(nvm: &Path) -> Vec<Installed> {
    plain_versions(&nvm.join("versions/node"), "nvm", &[])
}

fn nvm_install(nvm: &Path) -> Vec<String> {
    let script = sh(&nvm.join("nvm.sh"));
    vec![
        "echo \"Installing Node.js $VERSION with nvm ...\"".to_string(),
        format!(". {script} && nvm install \"$VERSION\""),
        format!("export PATH=\"$(. {script} >/dev/null && dirname \"$(nvm which \"$VERSION\")\"):$PATH\""),
    ]
}

/// JDKs: sdkman and asdf/mise name them `17.0.9-amzn` / `corretto-17.0.9.8.1`; jenv keeps
/// links named `17.0.9`, `corretto64-17.0.9`. Corretto is CodeBuild's `corretto<major>`, any
/// other vendor `openjdk<major>`.
fn java_versions(dir: &Path, manager: &'static str) -> Vec<Installed> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in read.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(start) = name.find(|c: char| c.is_ascii_digit()) else { continue };
        let lower = name.to_ascii_lowercase();
        let vendor =
            if lower.contains("amzn") || lower.contains("corretto") { "corretto" } else { "openjdk" };
        let version: String = name[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let version = version.trim_end_matches('.');
        // The old naming: 1.8.0 is Java 8, 1.17.0 (Debian's alias) is 17.
        let version = match version.strip_prefix("1.") {
            Some(rest)
                if rest.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 5) =>
            {
                rest
            }
            _ => version,
        }
        .to_string();
        let home = std::fs::canonicalize(e.path()).unwrap_or_else(|_| e.path());
        if version.is_empty() || !home.join("bin").is_dir() {
            continue;
        }
        out.push(Installed { version, vendor: vendor.to_string(), home, select: Vec::new(), manager });
    }
    out
}

/// Go installed without a manager: each root's `VERSION` file starts `go1.21.5`.
fn system_go(roots: &[PathBuf]) -> Vec<Installed> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(text) = std::fs::read_to_string(root.join("VERSION")) else { continue };
        let Some(version) = text.lines().next().and_then(|l| l.trim().strip_prefix("go")) else { continue };
        if !version.starts_with(|c: char| c.is_ascii_digit()) || !root.join("bin").is_dir() {
            continue;
        }
        let home = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        out.push(Installed {
            version: version.to_string(),
            vendor: String::new(),
            home,
            select: Vec::new(),
            manager: "system",
        });
    }
    out
}

/// rustup: `toolchains/1.95.0-x86_64-unknown-linux-gnu`; selected with `RUSTUP_TOOLCHAIN`.
fn rustup_versions(dir: &Path) -> Vec<Installed> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in read.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let version = name.split('-').next().unwrap_or(&name).to_string();
        out.push(Installed {
            select: vec![format!("export RUSTUP_TOOLCHAIN={}", crate::exec::wrapper::sh_quote(&name))],
            version,
            vendor: String::new(),
            home: e.path(),
            manager: "rustup",
        });
    }
    out
}

fn rustup_install() -> Vec<String> {
    vec![
        "echo \"Installing Rust $VERSION with rustup ...\"".to_string(),
        "rustup toolchain install \"$VERSION\"".to_string(),
        "export RUSTUP_TOOLCHAIN=\"$VERSION\"".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtimes::select::select;

    fn mkdirs(root: &Path, dirs: &[&str]) {
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
    }

    fn pick(c: &Catalog, rt: &str, v: &str) -> Result<super::super::select::Selection, String> {
        select(c, &[(rt.to_string(), v.to_string())]).map(|mut s| s.remove(0)).map_err(|e| e.to_string())
    }

    #[test]
    fn version_managers_become_a_catalog() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        mkdirs(
            h,
            &[
                ".pyenv/versions/3.11.7/bin",
                ".pyenv/versions/3.12.1/bin",
                ".pyenv/versions/3.12.4/bin",
                ".pyenv/versions/miniconda3-latest/bin",
                ".nvm/versions/node/v18.19.0/bin",
                ".nvm/versions/node/v20.11.0/bin",
                ".goenv/versions/1.21.5/bin",
                ".sdkman/candidates/java/17.0.9-amzn/bin",
                ".sdkman/candidates/java/21.0.1-tem/bin",
                ".asdf/installs/ruby/3.3.0/bin",
                ".local/share/mise/installs/php/8.3.1/bin",
                ".rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin",
                ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin",
            ],
        );
        std::fs::write(h.join(".nvm/nvm.sh"), "").unwrap();
        let env = |k: &str| (k == "HOME").then(|| h.display().to_string());
        let none = SystemDirs { jvm: h.join("no-jvm"), go: Vec::new() };
        let c = catalog_with(&env, None, &none);
        let names: Vec<&str> = c.runtimes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["python", "nodejs", "golang", "ruby", "php", "java", "rust"]);
        // The minor picks the newest patch; the full version is there too; not-a-version is not.
        let py = pick(&c, "python", "3.12").unwrap();
        assert_eq!(py.version, "3.12");
        assert!(py.commands.iter().any(|l| l.contains(".pyenv/versions/3.12.4/bin")), "{:?}", py.commands);
        assert!(py.commands.contains(&"export PYENV_VERSION='3.12.4'".to_string()), "{:?}", py.commands);
        assert!(pick(&c, "python", "3.12.1").unwrap().commands.iter().any(|l| l.contains("3.12.1/bin")));
        assert_eq!(pick(&c, "python", "3.x").unwrap().version, "3.12");
        // Missing but installable: pyenv's default entry, never another version.
        let missing = pick(&c, "python", "3.13").unwrap();
        assert_eq!(missing.install.as_deref(), Some("3.13"));
        assert!(missing.commands.iter().any(|l| l.starts_with("pyenv install")));
        assert_eq!(pick(&c, "nodejs", "18").unwrap().version, "18");
        assert_eq!(pick(&c, "nodejs", "latest").unwrap().version, "20");
        assert!(pick(&c, "nodejs", "22").unwrap().commands.iter().any(|l| l.contains("nvm install")));
        assert_eq!(pick(&c, "java", "corretto17").unwrap().version, "corretto17");
        assert!(
            pick(&c, "java", "corretto17")
                .unwrap()
                .commands
                .iter()
                .any(|l| l.starts_with("export JAVA_HOME="))
        );
        assert_eq!(pick(&c, "java", "openjdk21").unwrap().version, "openjdk21");
        let e = pick(&c, "java", "corretto21").unwrap_err();
        assert!(
            e.contains("following versions: ") && e.contains("corretto17") && e.contains("openjdk21"),
            "{e}"
        );
        assert!(pick(&c, "golang", "1.21").unwrap().commands.iter().any(|l| l.contains("GOENV_VERSION")));
        assert!(pick(&c, "ruby", "3.3").unwrap().commands.iter().any(|l| l.contains("ASDF_RUBY_VERSION")));
        assert!(pick(&c, "php", "8.3").unwrap().commands.iter().any(|l| l.contains("MISE_PHP_VERSION")));
        assert!(
            pick(&c, "rust", "1.95")
                .unwrap()
                .commands
                .iter()
                .any(|l| l.contains("RUSTUP_TOOLCHAIN='1.95.0-x86_64"))
        );
        // The system's JDKs and Go, as Debian installs them (an alias link is the same JDK).
        let sys = tempfile::tempdir().unwrap();
        mkdirs(
            sys.path(),
            &[
                "jvm/java-17-openjdk-amd64/bin",
                "jvm/openjdk-17",
                "jvm/java-21-amazon-corretto/bin",
                "go-1.22/bin",
            ],
        );
        std::os::unix::fs::symlink("java-17-openjdk-amd64", sys.path().join("jvm/java-1.17.0-openjdk-amd64"))
            .unwrap();
        std::fs::write(sys.path().join("go-1.22/VERSION"), "go1.22.2\ntime 2024-04-01\n").unwrap();
        let system = SystemDirs {
            jvm: sys.path().join("jvm"),
            go: vec![sys.path().join("go-1.22"), sys.path().join("none")],
        };
        let with_system = catalog_with(&env, None, &system);
        let java: Vec<&str> =
            with_system.runtime("java").unwrap().versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            java,
            ["openjdk21", "corretto21", "corretto17", "openjdk17", "openjdk21.0.1", "corretto17.0.9"]
        );
        let jdk17 = pick(&with_system, "java", "openjdk17").unwrap();
        assert!(jdk17.commands.iter().any(|l| l.contains("java-17-openjdk-amd64")), "{:?}", jdk17.commands);
        let go = pick(&with_system, "golang", "1.22").unwrap();
        assert!(go.commands.iter().any(|l| l.contains("go-1.22/bin")), "{:?}", go.commands);
        assert_eq!(pick(&with_system, "golang", "1.x").unwrap().version, "1.22");
        // Only what a build asks for is looked at.
        let only = catalog_with(&env, Some(&["python"]), &none);
        assert_eq!(only.runtimes.len(), 1);
        // Nothing installed, nothing that installs: the runtime is unknown, with the list.
        let empty = tempfile::tempdir().unwrap();
        let bare = |k: &str| (k == "HOME").then(|| empty.path().display().to_string());
        let c = catalog_with(&bare, None, &none);
        assert!(pick(&c, "python", "3.12").unwrap_err().starts_with("Unknown runtime named 'python'"));
    }
}
