//! `ecs-imagedefinitions`: the files CodePipeline's ECS deploy actions read.
//!
//! - `imagedefinitions.json` for the standard ECS deploy action:
//!   `[{"name":"<container>","imageUri":"<image>"}]` (one entry per container);
//! - `imageDetail.json` for the ECS blue/green (CodeDeploy) action: `{"ImageURI":"<image>"}`.
//!
//! ```yaml
//! - plugin: ./plugins/ecs_imagedefinitions.wasm
//!   with: { container: web, image: "${REPOSITORY_URI}:${IMAGE_TAG}" }
//!   allow: { write: true, env: [REPOSITORY_URI, IMAGE_TAG] }
//! ```
//!
//! Arguments: `container` + `image` for one container, or `containers` (a mapping of container
//! name to image) for several; `format`: `ecs` (default), `bluegreen`, or `both`; `output`
//! (default `imagedefinitions.json`) and `detail-output` (default `imageDetail.json`).
//! `${NAME}` in values is replaced by the granted variable NAME (a missing one is an error).
//! The files are added to the build's primary artifact.

use runspec_sdk::{Context, Error, Output, Plugin};

struct ImageDefinitions;

impl Plugin for ImageDefinitions {
    fn run(ctx: &Context) -> Result<Output, Error> {
        ctx.expect_args(&["container", "image", "containers", "format", "output", "detail-output"])?;
        let mut containers: Vec<(String, String)> = Vec::new();
        match (ctx.arg_opt::<String>("container")?, ctx.arg_opt::<String>("image")?) {
            (Some(c), Some(i)) => containers.push((c, i)),
            (None, None) => {}
            _ => return Err(Error::InvalidArgs("give both `container` and `image`".into())),
        }
        if let Some(map) = ctx.arg_opt::<serde_json::Value>("containers")? {
            let obj = map.as_object().ok_or_else(|| {
                Error::InvalidArgs("`containers` must be a mapping of container name to image".into())
            })?;
            for (name, image) in obj {
                let image = image
                    .as_str()
                    .ok_or_else(|| Error::InvalidArgs(format!("the image of `{name}` must be a string")))?;
                containers.push((name.clone(), image.to_string()));
            }
        }
        if containers.is_empty() {
            return Err(Error::InvalidArgs("give `container` and `image`, or `containers`".into()));
        }
        let mut resolved = Vec::new();
        for (name, image) in &containers {
            let image = expand(image, ctx)?;
            check_image(&image)?;
            resolved.push((expand(name, ctx)?, image));
        }
        let format: String = ctx.arg_or("format", "ecs".to_string())?;
        let (ecs, bluegreen) = match format.as_str() {
            "ecs" => (true, false),
            "bluegreen" => (false, true),
            "both" => (true, true),
            other => {
                return Err(Error::InvalidArgs(format!("unknown format `{other}`: ecs, bluegreen or both")));
            }
        };
        let mut out = Output::new(String::new());
        let mut written = Vec::new();
        if ecs {
            let path: String = ctx.arg_or("output", "imagedefinitions.json".to_string())?;
            let doc: Vec<serde_json::Value> =
                resolved.iter().map(|(n, i)| serde_json::json!({ "name": n, "imageUri": i })).collect();
            write(&path, &serde_json::Value::Array(doc))?;
            out = out.artifact(path.clone());
            written.push(path);
        }
        if bluegreen {
            if resolved.len() != 1 {
                return Err(Error::InvalidArgs(
                    "imageDetail.json holds one image: give exactly one container".into(),
                ));
            }
            let path: String = ctx.arg_or("detail-output", "imageDetail.json".to_string())?;
            write(&path, &serde_json::json!({ "ImageURI": resolved[0].1 }))?;
            out = out.artifact(path.clone());
            written.push(path);
        }
        out.message = format!(
            "wrote {} for {}",
            written.join(" and "),
            resolved.iter().map(|(n, i)| format!("{n}={i}")).collect::<Vec<_>>().join(", ")
        );
        Ok(out)
    }
}

fn write(path: &str, doc: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string(doc).map_err(|e| Error::Internal(e.to_string()))?;
    println!("{path}: {text}");
    std::fs::write(path, text + "\n").map_err(|e| {
        Error::Failed(format!("cannot write {path}: {e} (the step needs `allow: {{ write: true }}`)"))
    })
}

/// `${NAME}` → the granted variable's value.
fn expand(text: &str, ctx: &Context) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return Err(Error::InvalidArgs(format!("unclosed `${{` in `{text}`")));
        };
        let name = &rest[start + 2..start + end];
        let value = ctx.env(name).ok_or_else(|| {
            Error::InvalidArgs(format!(
                "`${{{name}}}` is not set: grant it with `allow: {{ env: [{name}] }}`"
            ))
        })?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `registry/repository[:tag][@sha256:digest]`, as ECS accepts it.
fn check_image(image: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::InvalidArgs(format!("`{image}` is not an image URI: {why}")));
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return bad("it is empty or has spaces");
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !(d.starts_with("sha256:") && d.len() == 71 && d[7..].chars().all(|c| c.is_ascii_hexdigit()))
    {
        return bad("the digest must be sha256:<64 hex digits>");
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if let Some((_, tag)) = last.split_once(':')
        && (tag.is_empty() || tag.len() > 128)
    {
        return bad("the tag is empty or longer than 128 characters");
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) && !name.contains('/') {
        return bad("repository names are lowercase");
    }
    Ok(())
}

runspec_sdk::export!(ImageDefinitions);
