//! The runtime catalog in the format of CodeBuild's standard images,
//! `/codebuild/image/config/runtimes.yml` (pure):
//!
//! ```yaml
//! version: 0.1
//! runtimes:
//!   python:
//!     versions:
//!       3.12:
//!         commands:
//!           - echo "Installing Python version 3.12 ..."
//!           - pyenv global $PYTHON_312_VERSION
//!       default:                      # a version the image does not carry, as $VERSION
//!         commands:
//!           - pyenv install $VERSION && rm -rf /tmp/*
//!           - pyenv global $VERSION
//!   android:
//!     versions:
//!       29:
//!         requires:
//!           java: ["corretto11"]
//!         commands: [...]
//! ```
//!
//! Version keys are kept as written: `1.20` is `1.20`, not the number 1.2.

use crate::buildspec::yaml::{self, Node, NodeKind};

/// Every runtime of one image (or host), in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub runtimes: Vec<Runtime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Runtime {
    pub name: String,
    /// The versions the image carries, in file order (`default` is not one of them).
    pub versions: Vec<Version>,
    /// Commands that install a version the image does not carry, with `$VERSION` set to it.
    pub default: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub name: String,
    pub commands: Vec<String>,
    /// Runtime → the versions of it this one works with.
    pub requires: Vec<(String, Vec<String>)>,
}

impl Catalog {
    pub fn runtime(&self, name: &str) -> Option<&Runtime> {
        self.runtimes.iter().find(|r| r.name == name)
    }

    /// The catalog as runtimes.yml text, for `runspec runtimes` (a user can save, edit and pass
    /// it back with `--runtimes`).
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("version: 0.1\n\nruntimes:\n");
        if self.runtimes.is_empty() {
            out = String::from("version: 0.1\n\nruntimes: {}\n");
        }
        for r in &self.runtimes {
            out.push_str(&format!("  {}:\n    versions:\n", quote(&r.name)));
            let entries = r.versions.iter().map(|v| (v.name.as_str(), &v.commands, &v.requires[..]));
            let default = r.default.as_ref().map(|c| ("default", c, &[][..]));
            for (name, commands, requires) in entries.chain(default) {
                out.push_str(&format!("      {}:\n", quote(name)));
                if !requires.is_empty() {
                    out.push_str("        requires:\n");
                    for (rt, vs) in requires {
                        let list: Vec<String> = vs.iter().map(|v| quote_always(v)).collect();
                        out.push_str(&format!("          {}: [{}]\n", quote(rt), list.join(", ")));
                    }
                }
                if commands.is_empty() {
                    out.push_str("        commands: []\n");
                } else {
                    out.push_str("        commands:\n");
                    for c in commands.iter() {
                        out.push_str(&format!("          - {}\n", quote_always(c)));
                    }
                }
            }
        }
        out
    }
}

/// A key as YAML reads it back as the same string.
fn quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if plain { s.to_string() } else { quote_always(s) }
}

fn quote_always(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads runtimes.yml text; errors name the line.
pub fn parse(text: &str) -> Result<Catalog, String> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Err("the catalog is empty".into()),
        Err(e) => return Err(format!("{} at line {}", e.message, e.line)),
    };
    let at = |n: &Node| yaml::line_col(text, n.span.start).0;
    let map = |n: &Node, what: &str| -> Result<Vec<(String, Node)>, String> {
        match &n.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, v)| match k.as_scalar() {
                    Some(key) => Ok((key.to_string(), v.clone())),
                    None => Err(format!("{what}: a key that is not a string at line {}", at(k))),
                })
                .collect(),
            _ if n.is_null() => Ok(Vec::new()),
            _ => Err(format!("{what} must be a mapping (line {})", at(n))),
        }
    };
    let strings = |n: &Node, what: &str| -> Result<Vec<String>, String> {
        match &n.kind {
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| {
                    i.as_scalar()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{what}: not a string at line {}", at(i)))
                })
                .collect(),
            NodeKind::Scalar { .. } if !n.is_null() => {
                Ok(vec![n.as_scalar().unwrap_or_default().to_string()])
            }
            _ if n.is_null() => Ok(Vec::new()),
            _ => Err(format!("{what} must be a list (line {})", at(n))),
        }
    };
    let mut catalog = Catalog::default();
    let top = map(&root, "the catalog")?;
    let Some((_, runtimes)) = top.iter().find(|(k, _)| k == "runtimes") else {
        return Err("the catalog has no `runtimes`".into());
    };
    for (name, body) in map(runtimes, "`runtimes`")? {
        let body = map(&body, &format!("runtime `{name}`"))?;
        let mut runtime = Runtime { name: name.clone(), versions: Vec::new(), default: None };
        let Some((_, versions)) = body.iter().find(|(k, _)| k == "versions") else {
            catalog.runtimes.push(runtime);
            continue;
        };
        for (version, entry) in map(versions, &format!("`{name}` versions"))? {
            let entry = map(&entry, &format!("`{name}` {version}"))?;
            let commands = match entry.iter().find(|(k, _)| k == "commands") {
                Some((_, c)) => strings(c, &format!("`{name}` {version} commands"))?,
                None => Vec::new(),
            };
            if version == "default" {
                runtime.default = Some(commands);
                continue;
            }
            let mut requires = Vec::new();
            if let Some((_, r)) = entry.iter().find(|(k, _)| k == "requires") {
                for (rt, vs) in map(r, &format!("`{name}` {version} requires"))? {
                    requires.push((rt.clone(), strings(&vs, &format!("`{name}` {version} requires {rt}"))?));
                }
            }
            runtime.versions.push(Version { name: version, commands, requires });
        }
        catalog.runtimes.push(runtime);
    }
    Ok(catalog)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shape of CodeBuild's ubuntu/standard images (versions as the file writes them).
    pub(crate) const STANDARD: &str = r#"version: 0.1

runtimes:
  java:
    versions:
      corretto21:
        commands:
          - echo "Installing Corretto(OpenJDK) version 21 ..."
          - export JAVA_HOME="$JAVA_21_HOME"
      corretto17:
        commands:
          - echo "Installing Corretto(OpenJDK) version 17 ..."
          - export JAVA_HOME="$JAVA_17_HOME"
  golang:
    versions:
      1.20:
        commands:
          - goenv global $GOLANG_20_VERSION
      1.21:
        commands:
          - goenv global $GOLANG_21_VERSION
      default:
        commands:
          - goenv install $VERSION && rm -rf /tmp/*
          - goenv global $VERSION
  nodejs:
    versions:
      18:
        commands:
          - n $NODE_18_VERSION
      20:
        commands:
          - n $NODE_20_VERSION
  android:
    versions:
      29:
        requires:
          java: ["corretto17"]
        commands:
          - echo android 29
"#;

    #[test]
    fn reads_codebuilds_format() {
        let c = parse(STANDARD).unwrap();
        let names: Vec<&str> = c.runtimes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["java", "golang", "nodejs", "android"]);
        let go = c.runtime("golang").unwrap();
        let versions: Vec<&str> = go.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(versions, ["1.20", "1.21"], "1.20 stays 1.20");
        assert_eq!(go.default.as_ref().unwrap()[1], "goenv global $VERSION");
        assert_eq!(
            c.runtime("android").unwrap().versions[0].requires,
            [("java".to_string(), vec!["corretto17".to_string()])]
        );
        assert!(c.runtime("nodejs").unwrap().default.is_none());
    }

    #[test]
    fn writes_what_it_reads() {
        let c = parse(STANDARD).unwrap();
        assert_eq!(parse(&c.to_yaml()).unwrap(), c);
        assert_eq!(parse(&Catalog::default().to_yaml()).unwrap(), Catalog::default());
    }

    #[test]
    fn bad_catalogs_say_where() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("version: 0.1\n").unwrap_err().contains("no `runtimes`"));
        assert!(parse("runtimes:\n  python: [1]\n").unwrap_err().contains("line 2"));
        assert!(
            parse("runtimes: {python: {versions: {3.12: {commands: {a: b}}}}}\n")
                .unwrap_err()
                .contains("must be a list")
        );
        assert!(parse("runtimes:\n  python:\n    versions:\n  - x\n").is_err());
    }
}
