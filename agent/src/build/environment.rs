//! The build's environment (R-ENV-03): the image's `ENV` (or, on the host, the agent's own
//! environment, or a clean one for a service's build), CodeBuild's variables, the buildspec's,
//! the project's and the overrides, in that order; the build user a service names; and
//! CodeBuild's helper commands first on the PATH.

use std::fs;
use std::path::{Path, PathBuf};

use super::{BuildRequest, PrepareError, prepare};
use crate::buildspec::Buildspec;
use crate::env::{self, BuildFacts};
use crate::workspace::Workspace;

/// The build's environment, ready for its executor.
pub(super) struct BuildEnvironment {
    pub environment: env::Environment,
    /// Variables whose values come from Parameter Store or Secrets Manager.
    pub requests: Vec<env::secrets::SecretRequest>,
    /// The highest layer as given (the agent's credentials first, with `--aws-credentials`).
    pub overrides: Vec<(String, String)>,
    /// A service's build user, resolved before anything runs (host builds only).
    pub build_user: Option<nix::unistd::User>,
}

/// Layers the build's environment. `image` is the build image's `ENV` and the container's
/// workspace root, `None` on the host.
pub(super) async fn prepare_environment(
    req: &BuildRequest,
    spec: Option<&Buildspec>,
    facts: &BuildFacts<'_>,
    image: Option<(&[(String, String)], &str)>,
    workspace: &Workspace,
) -> Result<BuildEnvironment, PrepareError> {
    let build_user = match req.host_isolation.as_ref().and_then(|i| i.user.as_deref()) {
        Some(name) if image.is_none() => Some(
            nix::unistd::User::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| prepare(format!("the build user `{name}` does not exist on this machine")))?,
        ),
        _ => None,
    };
    // R-ENV-03: the image's ENV is the lowest layer; on the host, the agent's own environment
    // (a service's build gets a clean one instead).
    let lowest: Vec<(String, String)> = match (image, &req.host_isolation) {
        (Some((env, _)), _) => env.to_vec(),
        (None, Some(_)) => env::clean_host(
            build_user.as_ref().map(|u| (u.name.as_str(), u.dir.to_str().unwrap_or("/"))),
            &|k| std::env::var(k).ok(),
        ),
        (None, None) => std::env::vars().filter(|(k, _)| env::inherit_from_host(k)).collect(),
    };
    let overrides = match req.aws_credentials {
        true => {
            let mut o = super::cloud::host_credentials(facts.region, req.profile.as_deref()).await?;
            o.extend(req.overrides.iter().cloned());
            o
        }
        false => req.overrides.clone(),
    };
    let (mut environment, requests) = env::layered(&env::Sources {
        image: lowest,
        builtins: env::builtins(facts),
        buildspec: spec.map(|b| &b.env),
        project: &req.project.variables,
        overrides: &overrides,
    });
    // CodeBuild's helper commands, first on the build's PATH. In a container only
    // `codebuild-breakpoint` (a shell script): the others run this very runspec binary, which
    // exists on the host only.
    let state_in_build = match image {
        Some(_) => crate::exec::docker::STATE_DIR.to_string(),
        None => workspace.state_dir.display().to_string(),
    };
    let helpers = helper_bin(workspace.root(), image.is_none(), &state_in_build)
        .map_err(|e| prepare(format!("cannot prepare the build's helper commands: {e}")))?;
    match image {
        Some((_, root)) => environment.prepend_path(&format!("{root}/bin")),
        None => environment.prepend_path(&helpers.to_string_lossy()),
    }
    Ok(BuildEnvironment { environment, requests, overrides, build_user })
}

/// CodeBuild's helper commands for the build's PATH (`codebuild-hash-files`,
/// `codebuild-tests-run`, `codebuild-glob-search`): shims that call this runspec.
fn helper_bin(root: &Path, on_host: bool, state_in_build: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("bin");
    fs::create_dir_all(&dir)?;
    let mut scripts =
        vec![("codebuild-breakpoint".to_string(), crate::exec::debug::breakpoint_script(state_in_build))];
    if on_host {
        let exe = std::env::current_exe()?;
        let exe = crate::exec::wrapper::sh_quote(&exe.to_string_lossy());
        for (name, sub) in [
            ("codebuild-hash-files", "hash-files"),
            ("codebuild-tests-run", "tests-run"),
            ("codebuild-glob-search", "glob-search"),
        ] {
            scripts.push((name.to_string(), format!("#!/bin/sh\nexec {exe} {sub} \"$@\"\n")));
        }
    }
    for (name, text) in scripts {
        let path = dir.join(name);
        fs::write(&path, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}
