//! The CloudFormation deploy action's configuration (pure), per "AWS CloudFormation deploy action
//! reference" and "Parameter override functions" in the CodePipeline User Guide: `ActionMode`,
//! `StackName`, `TemplatePath` and `TemplateConfiguration` (`ArtifactName::path`),
//! `ParameterOverrides` (a JSON object whose values are strings or `Fn::GetParam` /
//! `Fn::GetArtifactAtt`), `Capabilities` (comma-separated), `RoleArn`, `ChangeSetName`,
//! `OutputFileName`. Parameters from `ParameterOverrides` win over the template configuration's.

use std::collections::BTreeMap;

use serde_json::Value;

/// `ActionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    CreateUpdate,
    ReplaceOnFailure,
    DeleteOnly,
    ChangeSetReplace,
    ChangeSetExecute,
}

/// What the action does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub stack: String,
    pub template: Option<(String, String)>,
    pub template_configuration: Option<(String, String)>,
    pub overrides: Option<Value>,
    pub capabilities: Vec<String>,
    pub role_arn: Option<String>,
    pub change_set: Option<String>,
    pub output_file: Option<String>,
}

/// `ArtifactName::path`.
pub fn artifact_path(text: &str) -> Result<(String, String), String> {
    match text.split_once("::") {
        Some((a, p)) if !a.is_empty() && !p.is_empty() => Ok((a.to_string(), p.to_string())),
        _ => Err(format!("`{text}` is not ArtifactName::path")),
    }
}

/// Reads the action's configuration.
pub fn plan(config: &BTreeMap<String, String>) -> Result<Plan, String> {
    let mode = match config.get("ActionMode").map(String::as_str) {
        Some("CREATE_UPDATE") => Mode::CreateUpdate,
        Some("REPLACE_ON_FAILURE") => Mode::ReplaceOnFailure,
        Some("DELETE_ONLY") => Mode::DeleteOnly,
        Some("CHANGE_SET_REPLACE") => Mode::ChangeSetReplace,
        Some("CHANGE_SET_EXECUTE") => Mode::ChangeSetExecute,
        other => {
            return Err(format!(
                "ActionMode is `{}`; use CREATE_UPDATE, REPLACE_ON_FAILURE, DELETE_ONLY, CHANGE_SET_REPLACE or CHANGE_SET_EXECUTE",
                other.unwrap_or("")
            ));
        }
    };
    let stack =
        config.get("StackName").filter(|s| !s.is_empty()).ok_or("the action has no StackName")?.clone();
    let template = config.get("TemplatePath").map(|t| artifact_path(t)).transpose()?;
    let needs_template = matches!(mode, Mode::CreateUpdate | Mode::ReplaceOnFailure | Mode::ChangeSetReplace);
    if needs_template && template.is_none() {
        return Err("this ActionMode needs TemplatePath (ArtifactName::path)".into());
    }
    let change_set = config.get("ChangeSetName").cloned();
    if matches!(mode, Mode::ChangeSetReplace | Mode::ChangeSetExecute) && change_set.is_none() {
        return Err("change set modes need ChangeSetName".into());
    }
    let overrides = match config.get("ParameterOverrides") {
        None => None,
        Some(text) => {
            let v: Value =
                serde_json::from_str(text).map_err(|e| format!("ParameterOverrides is not JSON: {e}"))?;
            if !v.is_object() {
                return Err("ParameterOverrides is not a JSON object".into());
            }
            Some(v)
        }
    };
    Ok(Plan {
        mode,
        stack,
        template,
        template_configuration: config.get("TemplateConfiguration").map(|t| artifact_path(t)).transpose()?,
        overrides,
        capabilities: config
            .get("Capabilities")
            .map(|c| c.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
            .unwrap_or_default(),
        role_arn: config.get("RoleArn").cloned(),
        change_set,
        output_file: config.get("OutputFileName").cloned(),
    })
}

/// The stack's parameters: the template configuration's `Parameters`, then `ParameterOverrides`
/// with `Fn::GetParam` (`[artifact, file, key]`: a value of a JSON file in an input artifact,
/// through `read`) and `Fn::GetArtifactAtt` (`[artifact, attribute]`, through `attribute`).
pub fn parameters(
    configuration: Option<&Value>,
    overrides: Option<&Value>,
    read: &dyn Fn(&str, &str) -> Result<Value, String>,
    attribute: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if let Some(params) = configuration.and_then(|c| c.get("Parameters")) {
        let params = params.as_object().ok_or("the template configuration's Parameters is not an object")?;
        for (k, v) in params {
            let v = v
                .as_str()
                .ok_or_else(|| format!("the template configuration's parameter {k} is not a string"))?;
            out.insert(k.clone(), v.to_string());
        }
    }
    for (k, v) in overrides.and_then(Value::as_object).into_iter().flatten() {
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Object(f) if f.contains_key("Fn::GetParam") => {
                let args = f["Fn::GetParam"].as_array().filter(|a| a.len() == 3).ok_or_else(|| {
                    format!("{k}: Fn::GetParam takes [ArtifactName, JSONFileName, KeyName]")
                })?;
                let arg =
                    |i: usize| args[i].as_str().ok_or_else(|| format!("{k}: Fn::GetParam takes strings"));
                let file = read(arg(0)?, arg(1)?)?;
                match &file[arg(2)?] {
                    Value::String(s) => s.clone(),
                    Value::Null => {
                        return Err(format!("{k}: {} in {} has no key {}", arg(1)?, arg(0)?, arg(2)?));
                    }
                    other => other.to_string(),
                }
            }
            Value::Object(f) if f.contains_key("Fn::GetArtifactAtt") => {
                let args = f["Fn::GetArtifactAtt"]
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| format!("{k}: Fn::GetArtifactAtt takes [ArtifactName, AttributeName]"))?;
                let arg = |i: usize| {
                    args[i].as_str().ok_or_else(|| format!("{k}: Fn::GetArtifactAtt takes strings"))
                };
                attribute(arg(0)?, arg(1)?)?
            }
            other => {
                return Err(format!(
                    "ParameterOverrides: {k} is {other}; use a string, Fn::GetParam or Fn::GetArtifactAtt"
                ));
            }
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plans() {
        let p = plan(&config(&[
            ("ActionMode", "CREATE_UPDATE"),
            ("StackName", "infra"),
            ("TemplatePath", "BuildArtifact::infra/stack.yml"),
            ("Capabilities", "CAPABILITY_IAM, CAPABILITY_NAMED_IAM"),
            ("ParameterOverrides", r#"{"Env": "dev"}"#),
        ]))
        .unwrap();
        assert_eq!(p.template, Some(("BuildArtifact".into(), "infra/stack.yml".into())));
        assert_eq!(p.capabilities, ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]);
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("ActionMode", "DEPLOY")], "use CREATE_UPDATE"),
            (&[("ActionMode", "CREATE_UPDATE")], "no StackName"),
            (&[("ActionMode", "CREATE_UPDATE"), ("StackName", "s")], "needs TemplatePath"),
            (&[("ActionMode", "CHANGE_SET_EXECUTE"), ("StackName", "s")], "need ChangeSetName"),
            (
                &[("ActionMode", "CREATE_UPDATE"), ("StackName", "s"), ("TemplatePath", "x.yml")],
                "not ArtifactName::path",
            ),
            (
                &[("ActionMode", "DELETE_ONLY"), ("StackName", "s"), ("ParameterOverrides", "[1]")],
                "not a JSON object",
            ),
        ];
        for (pairs, says) in table {
            let e = plan(&config(pairs)).unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
        }
        assert_eq!(
            plan(&config(&[("ActionMode", "DELETE_ONLY"), ("StackName", "s")])).unwrap().mode,
            Mode::DeleteOnly
        );
    }

    #[test]
    fn parameters_with_override_functions() {
        let read = |artifact: &str, file: &str| -> Result<Value, String> {
            match (artifact, file) {
                ("BuildArtifact", "build.json") => Ok(json!({"Tag": "v7", "Count": 3})),
                _ => Err(format!("no {file} in {artifact}")),
            }
        };
        let attribute =
            |artifact: &str, att: &str| -> Result<String, String> { Ok(format!("{artifact}.{att}")) };
        let configuration = json!({"Parameters": {"Env": "prod", "Tag": "old"}});
        let overrides = json!({
            "Tag": {"Fn::GetParam": ["BuildArtifact", "build.json", "Tag"]},
            "Count": {"Fn::GetParam": ["BuildArtifact", "build.json", "Count"]},
            "Key": {"Fn::GetArtifactAtt": ["BuildArtifact", "ObjectKey"]},
            "Plain": "x"
        });
        let p = parameters(Some(&configuration), Some(&overrides), &read, &attribute).unwrap();
        assert_eq!(
            p,
            BTreeMap::from([
                ("Count".to_string(), "3".to_string()),
                ("Env".to_string(), "prod".to_string()),
                ("Key".to_string(), "BuildArtifact.ObjectKey".to_string()),
                ("Plain".to_string(), "x".to_string()),
                ("Tag".to_string(), "v7".to_string()),
            ])
        );
        let missing = json!({"Tag": {"Fn::GetParam": ["BuildArtifact", "build.json", "Nope"]}});
        assert!(parameters(None, Some(&missing), &read, &attribute).unwrap_err().contains("has no key Nope"));
        let bad = json!({"Tag": {"Fn::GetParam": ["BuildArtifact"]}});
        assert!(parameters(None, Some(&bad), &read, &attribute).unwrap_err().contains("takes [ArtifactName"));
        assert!(
            parameters(None, Some(&json!({"N": 1})), &read, &attribute).unwrap_err().contains("use a string")
        );
    }
}
