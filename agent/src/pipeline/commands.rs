//! A V2 Commands action as the build it is (pure): its `commands` as an inline buildspec's
//! build phase, its `outputVariables` as the buildspec's exported variables, and its output
//! artifact's `files` as the artifact's files (no `files`, no artifact section). The action's
//! `environmentVariables` are the build's overrides, not part of the buildspec. Every value is
//! written as a JSON string, which YAML reads as the same double-quoted scalar, so no command
//! text can change the document's structure.

use crate::shapes::codepipeline::ActionDeclaration;

/// The inline buildspec of a Commands action; `Err` when it has no commands.
pub fn buildspec(action: &ActionDeclaration) -> Result<String, String> {
    let commands =
        action.commands.as_deref().filter(|c| !c.is_empty()).ok_or("a Commands action needs `commands`")?;
    let files: Vec<String> =
        action.output_artifacts.iter().flatten().flat_map(|a| a.files.iter().flatten()).cloned().collect();
    Ok(inline(commands, action.output_variables.as_deref().unwrap_or_default(), &files))
}

/// A buildspec of `commands` in its build phase, with `exported` variables and `files` as the
/// primary artifact (none when empty).
pub fn inline(commands: &[String], exported: &[String], files: &[String]) -> String {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::from("version: 0.2\n");
    if !exported.is_empty() {
        out.push_str("env:\n  exported-variables:\n");
        for v in exported {
            out.push_str(&format!("    - {}\n", quoted(v)));
        }
    }
    out.push_str("phases:\n  build:\n    commands:\n");
    for c in commands {
        out.push_str(&format!("      - {}\n", quoted(c)));
    }
    if !files.is_empty() {
        out.push_str("artifacts:\n  files:\n");
        for f in files {
            out.push_str(&format!("    - {}\n", quoted(f)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_variables_and_files_become_a_buildspec_the_engine_reads() {
        let action: ActionDeclaration = serde_json::from_value(json!({
            "name": "Test",
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ["make test", "echo \"done: $X\" # with: colons, - dashes\n and a newline", "export TAG=v1"],
            "outputVariables": ["TAG"],
            "outputArtifacts": [{"name": "Out", "files": ["dist/**/*"]}]
        }))
        .unwrap();
        let text = buildspec(&action).unwrap();
        let parsed = crate::buildspec::parse("buildspec", &text);
        let spec = parsed.buildspec.unwrap_or_else(|| panic!("{text}\n{:?}", parsed.diagnostics.issues));
        let build = spec.phases.iter().find(|p| p.name == crate::buildspec::PhaseName::Build).unwrap();
        let commands: Vec<String> = build
            .commands
            .iter()
            .map(|s| match s {
                crate::buildspec::Step::Command(c) => c.value.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(commands, action.commands.clone().unwrap());
        assert!(text.contains("exported-variables:\n    - \"TAG\""), "{text}");
        assert!(text.contains("artifacts:\n  files:\n    - \"dist/**/*\""), "{text}");
        let none: ActionDeclaration = serde_json::from_value(json!({"name": "x", "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"}})).unwrap();
        assert!(buildspec(&none).unwrap_err().contains("needs `commands`"));
    }
}
