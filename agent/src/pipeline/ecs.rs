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

/// The Amazon ECS blue/green action's task definition template (`taskdef.json`) with each
/// `<PLACEHOLDER>` image replaced by the image of its `imageDetail.json` (`Image1ContainerName`
/// … `Image4ContainerName` name the placeholders, `IMAGE1_NAME` when left out), per "Amazon ECS
/// blue/green deployment action reference" in the CodePipeline User Guide. A placeholder the
/// template does not use, or one left in it, fails the deploy.
pub fn render_task_definition(template: &str, images: &[(String, String)]) -> Result<Value, String> {
    let mut td: Value = serde_json::from_str(template)
        .map_err(|e| format!("the task definition template is not JSON: {e}"))?;
    let containers = td
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
        .ok_or("the task definition template has no containerDefinitions")?;
    for (placeholder, uri) in images {
        let wanted = format!("<{placeholder}>");
        let mut used = false;
        for c in containers.iter_mut() {
            if c["image"] == wanted.as_str() {
                c["image"] = Value::String(uri.clone());
                used = true;
            }
        }
        if !used {
            return Err(format!("no container of the task definition template has the image {wanted}"));
        }
    }
    for c in containers.iter() {
        if let Some(image) = c["image"].as_str().filter(|i| i.starts_with('<') && i.ends_with('>')) {
            return Err(format!(
                "the container {} still has the placeholder {image}: name it with an Image<N>ContainerName and an imageDetail.json artifact",
                c["name"].as_str().unwrap_or("?")
            ));
        }
    }
    Ok(td)
}

/// An `imageDetail.json`'s `ImageURI`.
pub fn image_uri(file: &str, bytes: &[u8]) -> Result<String, String> {
    if bytes.len() > MAX_FILE {
        return Err(format!("{file} is {} bytes; CodePipeline reads at most {MAX_FILE}", bytes.len()));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("{file} is not JSON: {e}"))?;
    v["ImageURI"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("{file} has no ImageURI"))
}

/// The AppSpec's check: a `Resources` entry of type `AWS::ECS::Service` whose `TaskDefinition`
/// is the `<TASK_DEFINITION>` placeholder and whose load balancer names a container of the task
/// definition.
pub fn check_appspec(appspec: &serde_json::Value, td: &Value) -> Result<(), String> {
    let resources = appspec["Resources"].as_array().ok_or("the AppSpec has no Resources list")?;
    let service = resources
        .iter()
        .filter_map(|r| r.as_object()?.values().next())
        .find(|r| r["Type"] == "AWS::ECS::Service")
        .ok_or("the AppSpec has no resource of Type AWS::ECS::Service")?;
    let props = &service["Properties"];
    if props["TaskDefinition"] != "<TASK_DEFINITION>" {
        return Err("the AppSpec's TaskDefinition must be the placeholder <TASK_DEFINITION>".into());
    }
    if let Some(name) = props["LoadBalancerInfo"]["ContainerName"].as_str() {
        let names: Vec<&str> = td["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        if !names.contains(&name) {
            return Err(format!(
                "the AppSpec's ContainerName {name} is not a container of the task definition ({})",
                names.join(", ")
            ));
        }
    }
    Ok(())
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

    #[test]
    fn a_blue_green_template_gets_its_images() {
        let template = r#"{"family": "web", "containerDefinitions": [{"name": "web", "image": "<IMAGE1_NAME>"}, {"name": "proxy", "image": "envoy:1"}]}"#;
        let images =
            [("IMAGE1_NAME".to_string(), "1.dkr.ecr.us-east-1.amazonaws.com/web@sha256:ab".to_string())];
        let td = render_task_definition(template, &images).unwrap();
        assert_eq!(td["containerDefinitions"][0]["image"], "1.dkr.ecr.us-east-1.amazonaws.com/web@sha256:ab");
        assert_eq!(td["containerDefinitions"][1]["image"], "envoy:1");
        let unused = [("IMAGE2_NAME".to_string(), "x".to_string())];
        assert!(render_task_definition(template, &unused).unwrap_err().contains("<IMAGE2_NAME>"));
        assert!(
            render_task_definition(template, &[])
                .unwrap_err()
                .contains("still has the placeholder <IMAGE1_NAME>")
        );
        assert!(render_task_definition("[]", &images).is_err());
        let appspec = json!({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service",
            "Properties": {"TaskDefinition": "<TASK_DEFINITION>", "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080}}}}]});
        check_appspec(&appspec, &td).unwrap();
        let mut wrong = appspec.clone();
        wrong["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"]["ContainerName"] =
            json!("api");
        assert!(check_appspec(&wrong, &td).unwrap_err().contains("api is not a container"));
        assert_eq!(image_uri("imageDetail.json", br#"{"ImageURI": "u"}"#), Ok("u".to_string()));
        assert!(image_uri("imageDetail.json", b"{}").unwrap_err().contains("no ImageURI"));
    }
}
