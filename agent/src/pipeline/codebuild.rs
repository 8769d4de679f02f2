//! A CodeBuild action's configuration as its build sees it (pure), per "AWS CodeBuild build and
//! test action reference" in the CodePipeline User Guide: `ProjectName`; 1 to 5 input
//! artifacts, the one `PrimarySource` names (required when there are several) becoming
//! `CODEBUILD_SRC_DIR` and the others `CODEBUILD_SRC_DIR_<ArtifactName>`; up to 5 output
//! artifacts; `EnvironmentVariables`, a JSON list of `{"name", "value", "type"}` (PLAINTEXT,
//! PARAMETER_STORE or SECRETS_MANAGER; PLAINTEXT when left out) that goes on top of the project's;
//! `BatchEnabled` and `CombineArtifacts`.

use serde::Deserialize;

use std::collections::BTreeMap;

/// The most input or output artifacts a CodeBuild action has.
pub const MAX_ARTIFACTS: usize = 5;

/// One of the action's `EnvironmentVariables`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Variable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type", default = "plaintext")]
    pub kind: String,
}

fn plaintext() -> String {
    "PLAINTEXT".into()
}

/// What the build of a CodeBuild action gets from the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub project: String,
    /// The input artifact that is `CODEBUILD_SRC_DIR`.
    pub primary: String,
    /// The other input artifacts, each `CODEBUILD_SRC_DIR_<name>`.
    pub secondary: Vec<String>,
    pub variables: Vec<Variable>,
    pub batch: bool,
    pub combine_artifacts: bool,
}

/// Reads a CodeBuild action's configuration (its `#{…}` already resolved) with its input and
/// output artifact names.
pub fn action(
    config: &BTreeMap<String, String>,
    inputs: &[String],
    outputs: &[String],
) -> Result<Action, String> {
    let project =
        config.get("ProjectName").filter(|p| !p.is_empty()).ok_or("the action has no ProjectName")?;
    if inputs.is_empty() || inputs.len() > MAX_ARTIFACTS {
        return Err(format!(
            "a CodeBuild action has 1 to {MAX_ARTIFACTS} input artifacts; this one has {}",
            inputs.len()
        ));
    }
    if outputs.len() > MAX_ARTIFACTS {
        return Err(format!(
            "a CodeBuild action has at most {MAX_ARTIFACTS} output artifacts; this one has {}",
            outputs.len()
        ));
    }
    let primary = match (config.get("PrimarySource"), inputs) {
        (Some(p), _) if inputs.contains(p) => p.clone(),
        (Some(p), _) => {
            return Err(format!(
                "PrimarySource `{p}` is not one of the action's input artifacts ({})",
                inputs.join(", ")
            ));
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(format!(
                "the action has {} input artifacts: PrimarySource must name the one that is CODEBUILD_SRC_DIR ({})",
                inputs.len(),
                inputs.join(", ")
            ));
        }
    };
    let secondary = inputs.iter().filter(|i| **i != primary).cloned().collect();
    let variables: Vec<Variable> = match config.get("EnvironmentVariables") {
        None => Vec::new(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            format!("EnvironmentVariables is not a JSON list of {{\"name\", \"value\", \"type\"}}: {e}")
        })?,
    };
    for v in &variables {
        if !matches!(v.kind.as_str(), "PLAINTEXT" | "PARAMETER_STORE" | "SECRETS_MANAGER") {
            return Err(format!(
                "EnvironmentVariables: `{}` has the type {}; use PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER",
                v.name, v.kind
            ));
        }
    }
    let flag = |key: &str| -> Result<bool, String> {
        match config.get(key).map(|v| v.to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(format!("{key} is `{v}`; use true or false")),
        }
    };
    let (batch, combine_artifacts) = (flag("BatchEnabled")?, flag("CombineArtifacts")?);
    if combine_artifacts && !batch {
        return Err("CombineArtifacts needs BatchEnabled".into());
    }
    Ok(Action { project: project.clone(), primary, secondary, variables, batch, combine_artifacts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn primary_and_secondary_inputs() {
        let one = action(&config(&[("ProjectName", "app")]), &names(&["Src"]), &[]).unwrap();
        assert_eq!((one.primary.as_str(), one.secondary.len()), ("Src", 0));
        let two = action(
            &config(&[("ProjectName", "app"), ("PrimarySource", "Lib")]),
            &names(&["Src", "Lib"]),
            &names(&["Out"]),
        )
        .unwrap();
        assert_eq!((two.primary.as_str(), two.secondary.as_slice()), ("Lib", &names(&["Src"])[..]));
    }

    #[test]
    fn variables_and_flags() {
        let a = action(
            &config(&[
                ("ProjectName", "app"),
                (
                    "EnvironmentVariables",
                    r#"[{"name":"TAG","value":"abc"},{"name":"PW","value":"/p","type":"PARAMETER_STORE"}]"#,
                ),
                ("BatchEnabled", "true"),
                ("CombineArtifacts", "TRUE"),
            ]),
            &names(&["Src"]),
            &[],
        )
        .unwrap();
        assert_eq!(
            a.variables[0],
            Variable { name: "TAG".into(), value: "abc".into(), kind: "PLAINTEXT".into() }
        );
        assert_eq!(a.variables[1].kind, "PARAMETER_STORE");
        assert!(a.batch && a.combine_artifacts);
    }

    #[test]
    fn what_codepipeline_refuses() {
        let src = names(&["Src"]);
        /// Configuration, input artifacts, what the error says.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [String], &'a str);
        let table: &[Case] = &[
            (&[], &src, "no ProjectName"),
            (&[("ProjectName", "p")], &[], "1 to 5 input artifacts"),
            (&[("ProjectName", "p")], &names(&["A", "B"]), "PrimarySource must name"),
            (&[("ProjectName", "p"), ("PrimarySource", "C")], &names(&["A", "B"]), "`C` is not one of"),
            (&[("ProjectName", "p"), ("EnvironmentVariables", "{}")], &src, "not a JSON list"),
            (
                &[
                    ("ProjectName", "p"),
                    ("EnvironmentVariables", r#"[{"name":"A","value":"1","type":"SECRET"}]"#),
                ],
                &src,
                "the type SECRET",
            ),
            (&[("ProjectName", "p"), ("BatchEnabled", "yes")], &src, "use true or false"),
            (&[("ProjectName", "p"), ("CombineArtifacts", "true")], &src, "needs BatchEnabled"),
        ];
        for (pairs, inputs, says) in table {
            let e = action(&config(pairs), inputs, &[]).unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
        }
        let six = names(&["a", "b", "c", "d", "e", "f"]);
        assert!(
            action(&config(&[("ProjectName", "p")]), &src, &six).unwrap_err().contains("at most 5 output")
        );
    }
}
