//! Which variables a plugin may set for the rest of the build (pure).
//!
//! What a plugin returns in `exported-env` lands in the build's shell state, so it reaches every
//! later command. A plugin must not steer those commands, so two rules apply:
//!
//! 1. A plugin exports only the names its step grants in `allow.export` (`--allow-export` on
//!    the command line). Anything else fails the step.
//! 2. Some names are never granted, whatever the step says: the build's own identity
//!    (`CODEBUILD_*`, as a buildspec may not set them either, R-ENV-04), AWS settings, and every
//!    variable that changes how a shell, the dynamic loader, an interpreter or a common tool
//!    starts, where it looks for code or configuration, or where it sends traffic. `runspec
//!    check` rejects them in `allow.export`; the runner refuses them again at run time.
//!
//! Values are bounded too ([`MAX_VALUE_BYTES`], [`MAX_TOTAL_BYTES`]): a value the kernel cannot
//! pass to a program would make every later command fail with `Argument list too long`.

/// One family of names a plugin can never export, and why.
pub struct Denied {
    /// Exact names, or prefixes ending in `*`.
    pub names: &'static [&'static str],
    pub why: &'static str,
}

/// The names no plugin may export. Matching ignores ASCII case, since several programs read
/// both spellings (`http_proxy` / `HTTP_PROXY`).
pub const DENIED: &[Denied] = &[
    Denied {
        names: &["CODEBUILD_*", "AWS_*", "RUNSPEC_*"],
        why: "the build's identity, credentials and agent settings",
    },
    Denied {
        names: &[
            "PATH",
            "PWD",
            "OLDPWD",
            "HOME",
            "SHELL",
            "USER",
            "LOGNAME",
            "TMPDIR",
            "ENV",
            "BASH_ENV",
            "BASH_FUNC_*",
            "BASHOPTS",
            "SHELLOPTS",
            "IFS",
            "CDPATH",
            "GLOBIGNORE",
            "PS4",
            "PROMPT_COMMAND",
            "POSIXLY_CORRECT",
        ],
        why: "where commands run and how the shell starts",
    },
    Denied {
        names: &["LD_*", "DYLD_*", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_*", "LOCPATH", "NLSPATH"],
        why: "how the dynamic loader and the C library load code",
    },
    Denied {
        names: &[
            "PERL*",
            "PYTHON*",
            "PIP_*",
            "UV_*",
            "POETRY_*",
            "NODE_OPTIONS",
            "NODE_PATH",
            "NODE_TLS_REJECT_UNAUTHORIZED",
            "NPM_CONFIG_*",
            "YARN_*",
            "RUBYOPT",
            "RUBYLIB",
            "GEM_*",
            "BUNDLE_*",
            "PHPRC",
            "PHP_INI_SCAN_DIR",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "JAVA_HOME",
            "CLASSPATH",
            "MAVEN_OPTS",
            "M2_HOME",
            "GRADLE_OPTS",
            "GRADLE_USER_HOME",
            "RUSTC_*",
            "RUSTC",
            "RUSTFLAGS",
            "RUSTDOCFLAGS",
            "CARGO_*",
            "GO*",
            "MAKEFLAGS",
            "GNUMAKEFLAGS",
            "MFLAGS",
            "MAKEFILES",
            "CC",
            "CXX",
            "CPP",
            "LD",
            "AR",
            "AS",
            "CFLAGS",
            "CXXFLAGS",
            "CPPFLAGS",
            "LDFLAGS",
            "PKG_CONFIG",
            "PKG_CONFIG_PATH",
            "GIT_*",
            "SSH_*",
            "GNUPGHOME",
            "SUDO_ASKPASS",
            "DOCKER_*",
            "BUILDKIT_*",
            "COMPOSE_*",
            "KUBECONFIG",
            "HELM_*",
            "TF_CLI_*",
            "OPENSSL_CONF",
            "OPENSSL_ENGINES",
            "OPENSSL_MODULES",
            "SSLKEYLOGFILE",
            "EDITOR",
            "VISUAL",
            "PAGER",
            "MANPAGER",
            "LESSOPEN",
            "LESSCLOSE",
            "LESSKEY",
            "BROWSER",
            "TERMINFO",
            "TERMINFO_DIRS",
            "XDG_CONFIG_HOME",
            "XDG_CONFIG_DIRS",
            "XDG_DATA_DIRS",
            "XDG_RUNTIME_DIR",
        ],
        why: "what interpreters and tools load, run or read as configuration at start-up",
    },
    Denied {
        names: &[
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "FTP_PROXY",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "CURL_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
            "HOSTALIASES",
            "LOCALDOMAIN",
            "RES_OPTIONS",
            "RESOLV_HOST_CONF",
        ],
        why: "where network traffic goes and which certificates are trusted",
    },
];

/// The longest value one exported variable may have (bytes). Linux passes at most 128 KiB per
/// environment string to a program; half of it leaves room for the rest of the environment.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// The most bytes (names and values) one step may export.
pub const MAX_TOTAL_BYTES: usize = 256 << 10;
/// The most variables one step may export.
pub const MAX_COUNT: usize = 256;

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix),
        None => name.eq_ignore_ascii_case(pattern),
    }
}

/// Why `name` can never be exported by a plugin, or `None` when a step may grant it.
pub fn denied(name: &str) -> Option<&'static str> {
    DENIED.iter().find(|d| d.names.iter().any(|p| matches(p, name))).map(|d| d.why)
}

/// Checks a grant list entry (`allow.export`): a variable name a step may grant.
pub fn check_grant(name: &str) -> Result<(), String> {
    if !super::is_identifier(name) {
        return Err("not a variable name".into());
    }
    match denied(name) {
        Some(why) => Err(format!("plugins can never export it ({why})")),
        None => Ok(()),
    }
}

/// Checks what a step returned against its grants; the error is the step's failure reason.
pub fn check(exported: &[(String, String)], granted: &[String]) -> Result<(), String> {
    if exported.len() > MAX_COUNT {
        return Err(format!(
            "the plugin exported {} variables; a step may export at most {MAX_COUNT}",
            exported.len()
        ));
    }
    let mut total = 0usize;
    for (name, value) in exported {
        if !super::is_identifier(name) {
            return Err(format!(
                "`{}` is not a valid variable name",
                crate::log::escape::one_line(name, 200)
            ));
        }
        if let Some(why) = denied(name) {
            return Err(format!("the plugin exported `{name}`, which plugins can never set ({why})"));
        }
        if !granted.iter().any(|g| g == name) {
            let hint = if granted.is_empty() {
                format!("grant it with `allow: {{ export: [{name}] }}`")
            } else {
                format!("the step grants only {}; add it to `allow.export`", granted.join(", "))
            };
            return Err(format!("the plugin exported `{name}`, which the step does not allow: {hint}"));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "the plugin exported `{name}` with {}; a variable can hold at most {} KiB",
                crate::log::escape::size(value.len()),
                MAX_VALUE_BYTES >> 10
            ));
        }
        total += name.len() + value.len();
    }
    if total > MAX_TOTAL_BYTES {
        return Err(format!(
            "the plugin exported {} in all; a step may export at most {} KiB",
            crate::log::escape::size(total),
            MAX_TOTAL_BYTES >> 10
        ));
    }
    Ok(())
}

/// The rule as lines of text, for `runspec plugin inspect` and the docs.
pub fn describe() -> Vec<String> {
    let mut lines = vec![format!(
        "a step may export only the names in its `allow.export` (`--allow-export NAME`), values up to {} KiB, {} KiB in all",
        MAX_VALUE_BYTES >> 10,
        MAX_TOTAL_BYTES >> 10
    )];
    lines.push("never exported, whatever the step grants:".to_string());
    for d in DENIED {
        lines.push(format!("  {}: {}", d.why, d.names.join(" ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_names() {
        let table: &[(&str, bool)] = &[
            ("CODEBUILD_SRC_DIR", true),
            ("CODEBUILD_BUILD_SUCCEEDING", true),
            ("AWS_ACCESS_KEY_ID", true),
            ("aws_profile", true),
            ("RUNSPEC_ECR_REGISTRY", true),
            ("PATH", true),
            ("PWD", true),
            ("BASH_ENV", true),
            ("ENV", true),
            ("LD_PRELOAD", true),
            ("LD_LIBRARY_PATH", true),
            ("PERL5OPT", true),
            ("PERL5LIB", true),
            ("PYTHONPATH", true),
            ("PYTHONSTARTUP", true),
            ("NODE_OPTIONS", true),
            ("GIT_CONFIG_COUNT", true),
            ("GIT_CONFIG_KEY_0", true),
            ("GIT_SSH_COMMAND", true),
            ("http_proxy", true),
            ("HTTPS_PROXY", true),
            ("GLIBC_TUNABLES", true),
            ("DOCKER_HOST", true),
            ("MAKEFLAGS", true),
            ("GOTOOLCHAIN", true),
            ("RUSTFLAGS", true),
            ("OPENSSL_CONF", true),
            ("SSLKEYLOGFILE", true),
            ("TF_CLI_ARGS_plan", true),
            ("TF_VAR_region", false),
            ("GREETED", false),
            ("IMAGE_TAG", false),
            ("IMAGE_URI", false),
            ("LINE_COUNT_TOTAL", false),
            ("APP_VERSION", false),
            ("ENVIRONMENT", false),
            ("PATHS_CHANGED", false),
            ("HOMEPAGE_URL", false),
        ];
        for (name, want) in table {
            assert_eq!(denied(name).is_some(), *want, "{name}");
        }
    }

    #[test]
    fn grants_are_checked() {
        assert!(check_grant("IMAGE_TAG").is_ok());
        assert!(check_grant("BASH_ENV").unwrap_err().contains("never"));
        assert!(check_grant("1X").unwrap_err().contains("not a variable name"));
    }

    #[test]
    fn returned_exports_need_a_grant() {
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        let granted = vec!["IMAGE_TAG".to_string()];
        assert!(check(&[kv("IMAGE_TAG", "abc")], &granted).is_ok());
        assert!(check(&[], &[]).is_ok());
        let e = check(&[kv("OTHER", "x")], &granted).unwrap_err();
        assert!(e.contains("does not allow") && e.contains("grants only IMAGE_TAG"), "{e}");
        let e = check(&[kv("OTHER", "x")], &[]).unwrap_err();
        assert!(e.contains("allow: { export: [OTHER] }"), "{e}");
        // Denied even when granted (a step object built by hand, not through the parser).
        let e = check(&[kv("BASH_ENV", "/tmp/x")], &["BASH_ENV".to_string()]).unwrap_err();
        assert!(e.contains("never"), "{e}");
        let e = check(&[kv("bad name", "x")], &[]).unwrap_err();
        assert!(e.contains("not a valid variable name"), "{e}");
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let e = check(&[kv("IMAGE_TAG", &big)], &granted).unwrap_err();
        assert!(e.contains("at most 64 KiB"), "{e}");
        let names: Vec<String> = (0..5).map(|i| format!("V{i}")).collect();
        let many: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "y".repeat(60 << 10))).collect();
        let e = check(&many, &names).unwrap_err();
        assert!(e.contains("in all"), "{e}");
    }
}
