//! What a git source action hands the actions after it (pure): its output format and its
//! variables, as the CodePipeline User Guide's action reference and "Variables reference" list
//! them for CodeCommit and CodeStarSourceConnection (GitHub, GitLab, Bitbucket through
//! CodeConnections).

use std::collections::BTreeMap;

/// The commit a source action took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub message: String,
    /// ISO-8601, as git prints `%aI`.
    pub author_date: String,
    /// ISO-8601, as git prints `%cI`.
    pub committer_date: String,
}

/// How a git source hands its files on (`OutputArtifactFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `CODE_ZIP` (the default): a ZIP of the files at the commit, without `.git`.
    Zip,
    /// `CODEBUILD_CLONE_REF`: a reference a CodeBuild action clones, history included.
    CloneRef,
}

/// The action's output format.
pub fn format(config: &BTreeMap<String, String>) -> Result<Format, String> {
    match config.get("OutputArtifactFormat").map(String::as_str) {
        None | Some("CODE_ZIP") => Ok(Format::Zip),
        Some("CODEBUILD_CLONE_REF") => Ok(Format::CloneRef),
        Some(other) => Err(format!("OutputArtifactFormat is `{other}`; use CODE_ZIP or CODEBUILD_CLONE_REF")),
    }
}

/// The variables of a git source action of `provider` that took `commit`.
pub fn variables(
    provider: &str,
    config: &BTreeMap<String, String>,
    commit: &Commit,
) -> Result<BTreeMap<String, String>, String> {
    let setting = |key: &str| config.get(key).cloned().unwrap_or_default();
    let mut out = BTreeMap::from([
        ("AuthorDate".to_string(), commit.author_date.clone()),
        ("BranchName".to_string(), setting("BranchName")),
        ("CommitId".to_string(), commit.id.clone()),
        ("CommitMessage".to_string(), commit.message.clone()),
    ]);
    match provider {
        "CodeCommit" => {
            out.insert("CommitterDate".into(), commit.committer_date.clone());
            out.insert("RepositoryName".into(), setting("RepositoryName"));
        }
        "CodeStarSourceConnection" => {
            out.insert("ConnectionArn".into(), setting("ConnectionArn"));
            out.insert("FullRepositoryName".into(), setting("FullRepositoryId"));
        }
        other => {
            return Err(format!(
                "{other} is not a git source provider (CodeCommit, CodeStarSourceConnection)"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit() -> Commit {
        Commit {
            id: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c".into(),
            message: "Fix the tests".into(),
            author_date: "2026-12-07T10:00:00+00:00".into(),
            committer_date: "2026-12-07T10:05:00+00:00".into(),
        }
    }

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn each_provider_names_its_variables() {
        let connection = variables(
            "CodeStarSourceConnection",
            &config(&[("ConnectionArn", "arn:c"), ("FullRepositoryId", "me/app"), ("BranchName", "main")]),
            &commit(),
        )
        .unwrap();
        assert_eq!(
            connection.keys().map(String::as_str).collect::<Vec<_>>(),
            ["AuthorDate", "BranchName", "CommitId", "CommitMessage", "ConnectionArn", "FullRepositoryName"]
        );
        assert_eq!(connection["FullRepositoryName"], "me/app");
        assert_eq!(connection["CommitId"], commit().id);
        let codecommit =
            variables("CodeCommit", &config(&[("RepositoryName", "app"), ("BranchName", "main")]), &commit())
                .unwrap();
        assert_eq!(
            codecommit.keys().map(String::as_str).collect::<Vec<_>>(),
            ["AuthorDate", "BranchName", "CommitId", "CommitMessage", "CommitterDate", "RepositoryName"]
        );
        assert_eq!(codecommit["CommitterDate"], "2026-12-07T10:05:00+00:00");
        assert!(variables("S3", &config(&[]), &commit()).unwrap_err().contains("not a git source"));
    }

    #[test]
    fn output_formats() {
        assert_eq!(format(&config(&[])), Ok(Format::Zip));
        assert_eq!(format(&config(&[("OutputArtifactFormat", "CODEBUILD_CLONE_REF")])), Ok(Format::CloneRef));
        assert!(format(&config(&[("OutputArtifactFormat", "TAR")])).unwrap_err().contains("CODE_ZIP"));
    }
}
