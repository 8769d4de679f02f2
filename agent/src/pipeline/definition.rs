//! A pipeline file read into botocore's shapes (pure). Three forms are accepted: what `aws
//! codepipeline get-pipeline` prints (`{"pipeline": …, "metadata": …}`), the
//! `create-pipeline --cli-input-json` form (`{"pipeline": …, "tags": …}`), and the bare pipeline
//! object. Positions come from the same span-keeping tree the buildspec uses (JSON is YAML), so
//! a problem found in the typed pipeline points at its `file:line:col`.

use serde_json::Value;

use crate::buildspec::yaml::{self, Node, NodeKind, Span};
use crate::shapes::codepipeline::PipelineDeclaration;

/// A step of a path into the pipeline object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path as text: `stages[1].actions[0].configuration`.
pub fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `key` as a path step.
pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// A pipeline file, read.
#[derive(Debug)]
pub struct Definition {
    /// The pipeline as JSON (what the model checks).
    pub value: Value,
    /// The pipeline, typed; `None` when its JSON does not fit the shapes (a wrong type).
    pub pipeline: Option<PipelineDeclaration>,
    /// The pipeline object's node in the file.
    root: Option<Node>,
    /// Where the pipeline object starts (for problems no node can carry).
    start: Span,
}

/// Why a file is not a pipeline at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAPipeline(pub String);

impl Definition {
    /// Reads `text`.
    pub fn read(text: &str) -> Result<Definition, NotAPipeline> {
        let whole: Value = serde_json::from_str(text).map_err(|e| {
            NotAPipeline(format!(
                "not JSON: {e} (a pipeline file is what `aws codepipeline get-pipeline` prints)"
            ))
        })?;
        let wrapped = whole.get("pipeline").is_some_and(Value::is_object);
        let value = match (&whole, wrapped) {
            (_, true) => whole["pipeline"].clone(),
            (Value::Object(m), false) if m.contains_key("stages") => whole.clone(),
            _ => {
                return Err(NotAPipeline(
                    "not a pipeline: expected `{\"pipeline\": {…}}` (what `aws codepipeline get-pipeline` prints) or a pipeline object with `stages`".into(),
                ));
            }
        };
        // JSON is YAML 1.2: the buildspec's parser gives the spans. A file it cannot read (JSON
        // past its nesting bound) is still checked, with problems at the start.
        let tree = yaml::parse(text).ok().flatten();
        let root = match (tree, wrapped) {
            (Some(t), true) => child(&t, &key("pipeline")).cloned(),
            (t, _) => t,
        };
        let start = root.as_ref().map_or(Span::default(), |n| Span::new(n.span.start, n.span.start + 1));
        let pipeline = serde_json::from_value(value.clone()).ok();
        Ok(Definition { value, pipeline, root, start })
    }

    /// Where `path` (from the pipeline object) is in the file: its node, else the nearest
    /// ancestor that is there (a missing member points at its parent).
    pub fn span(&self, path: &[Seg]) -> Span {
        let Some(mut node) = self.root.as_ref() else { return self.start };
        for seg in path {
            match child(node, seg) {
                Some(next) => node = next,
                None => break,
            }
        }
        match &node.kind {
            // A collection's first line is enough to point at it.
            NodeKind::Map(_) | NodeKind::Seq(_) => Span::new(node.span.start, node.span.start + 1),
            NodeKind::Scalar { .. } => node.span,
        }
    }
}

fn child<'a>(node: &'a Node, seg: &Seg) -> Option<&'a Node> {
    match (&node.kind, seg) {
        (NodeKind::Map(entries), Seg::Key(k)) => {
            entries.iter().find(|(key, _)| key.as_scalar() == Some(k.as_str())).map(|(_, v)| v)
        }
        (NodeKind::Seq(items), Seg::Index(i)) => items.get(*i),
        _ => None,
    }
}

/// A model path (`stages.1.member.actions.2.member.runOrder`, lists counting from 1) as steps.
pub fn from_model_path(path: &str) -> Vec<Seg> {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        match (parts[i].parse::<usize>(), parts.get(i + 1)) {
            (Ok(n), Some(&"member")) if n >= 1 => {
                out.push(Seg::Index(n - 1));
                i += 2;
            }
            _ => {
                out.push(key(parts[i]));
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "pipeline": {
    "name": "app",
    "stages": [
      {"name": "Source", "actions": [{"name": "Code", "runOrder": 1}]}
    ]
  },
  "metadata": {}
}"#;

    fn line_col(text: &str, span: Span) -> (usize, usize) {
        yaml::line_col(text, span.start)
    }

    #[test]
    fn the_three_forms_and_what_is_not_a_pipeline() {
        let d = Definition::read(FILE).unwrap();
        assert_eq!(d.value["name"], "app");
        let bare = r#"{"name": "app", "stages": []}"#;
        assert_eq!(Definition::read(bare).unwrap().value["name"], "app");
        for (text, why) in [
            ("{\"name\": ", "not JSON"),
            ("[1, 2]", "not a pipeline"),
            ("{\"projects\": []}", "not a pipeline"),
        ] {
            assert!(Definition::read(text).unwrap_err().0.starts_with(why), "{text}");
        }
    }

    #[test]
    fn paths_point_into_the_file() {
        let d = Definition::read(FILE).unwrap();
        let run_order = [key("stages"), Seg::Index(0), key("actions"), Seg::Index(0), key("runOrder")];
        assert_eq!(line_col(FILE, d.span(&run_order)), (5, 67));
        // A member that is not there: its parent.
        let missing = [key("stages"), Seg::Index(0), key("actions"), Seg::Index(0), key("actionTypeId")];
        assert_eq!(line_col(FILE, d.span(&missing)), (5, 38));
        assert_eq!(line_col(FILE, d.span(&[key("name")])), (3, 13));
    }

    #[test]
    fn model_paths_as_steps() {
        assert_eq!(
            from_model_path("stages.1.member.actions.2.member.runOrder"),
            [key("stages"), Seg::Index(0), key("actions"), Seg::Index(1), key("runOrder")]
        );
        assert_eq!(from_model_path("roleArn"), [key("roleArn")]);
        assert_eq!(from_model_path(""), Vec::<Seg>::new());
    }
}
