//! The ECS standard deploy action's input (pure): `imagedefinitions.json` as the CodePipeline
//! User Guide's "Image definitions file reference" defines it (a JSON list of `{"name",
//! "imageUri"}`, UTF-8, at most 100 KB), and the task definition's container definitions with
//! the new images, which is what the action registers as a new revision. A name the task
//! definition has no container for fails the deploy, as it does on CodePipeline.

use serde::Deserialize;
use serde_json::Value;

/// The largest image definitions file CodePipeline reads.
pub const MAX_FILE: usize = 100 * 1024;

/// One entry of `imagedefinitions.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageDefinition {
    pub name: String,
    #[serde(rename = "imageUri")]
    pub image_uri: String,
}

/// Reads an image definitions file (`file` names it in messages).
pub fn image_definitions(file: &str, bytes: &[u8]) -> Result<Vec<ImageDefinition>, String> {
    if bytes.len() > MAX_FILE {
        return Err(format!(
            "{file} is {} bytes; CodePipeline reads at most {MAX_FILE} (100 KB)",
            bytes.len()
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("{file} is not UTF-8: {e}"))?;
    let definitions: Vec<ImageDefinition> = serde_json::from_str(text)
        .map_err(|e| format!("{file} is not a list of {{\"name\": CONTAINER, \"imageUri\": IMAGE}}: {e}"))?;
    if definitions.is_empty() {
        return Err(format!("{file} names no container"));
    }
    for (i, d) in definitions.iter().enumerate() {
        if d.name.is_empty() || d.image_uri.is_empty() {
            return Err(format!("{file}: entry {} has an empty name or imageUri", i + 1));
        }
        if definitions[..i].iter().any(|e| e.name == d.name) {
            return Err(format!("{file} names the container `{}` twice", d.name));
        }
    }
    Ok(definitions)
}

/// The task definition's `containerDefinitions` with each named container's image replaced.
pub fn with_images(containers: &[Value], definitions: &[ImageDefinition]) -> Result<Vec<Value>, String> {
    let names: Vec<&str> = containers.iter().filter_map(|c| c["name"].as_str()).collect();
    let mut out = containers.to_vec();
    for d in definitions {
        let Some(container) = out.iter_mut().find(|c| c["name"] == d.name.as_str()) else {
            return Err(format!(
                "the image definitions name the container `{}`, which the task definition does not have (it has: {})",
                d.name,
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ));
        };
        container["image"] = Value::String(d.image_uri.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_definitions_as_codepipeline_reads_them() {
        let ok = br#"[{"name": "web", "imageUri": "1.dkr.ecr.us-east-1.amazonaws.com/web:abc"}]"#;
        assert_eq!(
            image_definitions("imagedefinitions.json", ok).unwrap(),
            [ImageDefinition {
                name: "web".into(),
                image_uri: "1.dkr.ecr.us-east-1.amazonaws.com/web:abc".into()
            }]
        );
        let big = format!("[{{\"name\": \"web\", \"imageUri\": \"{}\"}}]", "x".repeat(MAX_FILE));
        let table: &[(&[u8], &str)] = &[
            (big.as_bytes(), "CodePipeline reads at most 102400"),
            (b"\xff[]", "not UTF-8"),
            (br#"{"name": "web"}"#, "is not a list"),
            (br#"[{"name": "web"}]"#, "is not a list"),
            (b"[]", "names no container"),
            (br#"[{"name": "", "imageUri": "i"}]"#, "entry 1 has an empty"),
            (br#"[{"name": "a", "imageUri": "i"}, {"name": "a", "imageUri": "j"}]"#, "`a` twice"),
        ];
        for (bytes, says) in table {
            let e = image_definitions("f.json", bytes).unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
        }
    }

    #[test]
    fn the_named_containers_get_the_new_images() {
        let containers = vec![
            json!({"name": "web", "image": "web:old", "portMappings": [{"containerPort": 80}]}),
            json!({"name": "sidecar", "image": "envoy:1"}),
        ];
        let defs = [ImageDefinition { name: "web".into(), image_uri: "web:new".into() }];
        let out = with_images(&containers, &defs).unwrap();
        assert_eq!(out[0]["image"], "web:new");
        assert_eq!(out[0]["portMappings"][0]["containerPort"], 80);
        assert_eq!(out[1], containers[1]);
        let missing = [ImageDefinition { name: "api".into(), image_uri: "api:1".into() }];
        let e = with_images(&containers, &missing).unwrap_err();
        assert!(e.contains("`api`") && e.contains("it has: web, sidecar"), "{e}");
    }
}
