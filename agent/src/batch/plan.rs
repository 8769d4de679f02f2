//! A buildspec's `batch` section as the child builds it makes (pure; R-BATCH-01, -04, -07, -08).
//!
//! [OPEN] decided here: matrix and fanout children are named `build1`, `build2`, … in the
//! order they are made (a matrix: buildspecs, then images, then compute types, then each
//! variable list in file order, the last one changing fastest).

use crate::buildspec::{BatchKind, TaskSettings};

/// One child build of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub identifier: String,
    /// A buildspec path relative to the source root, instead of the batch's own.
    pub buildspec: Option<String>,
    pub depends_on: Vec<String>,
    pub settings: TaskSettings,
    /// A fanout shard: (this one, from 0; how many).
    pub shard: Option<(u32, u32)>,
}

pub fn plan(kind: &BatchKind) -> Vec<Child> {
    match kind {
        BatchKind::List(tasks) | BatchKind::Graph(tasks) => tasks
            .iter()
            .map(|t| Child {
                identifier: t.identifier.value.clone(),
                buildspec: t.buildspec.clone(),
                depends_on: t.depend_on.iter().map(|d| d.value.clone()).collect(),
                settings: t.settings.clone(),
                shard: None,
            })
            .collect(),
        BatchKind::Fanout { parallelism, settings } => (0..*parallelism)
            .map(|i| Child {
                identifier: format!("build{}", i + 1),
                buildspec: None,
                depends_on: Vec::new(),
                settings: settings.clone(),
                shard: Some((i, *parallelism)),
            })
            .collect(),
        BatchKind::Matrix { settings, dynamic } => {
            // Each dimension is a list of options; an absent one is a single "as is".
            let buildspecs: Vec<Option<String>> = options(&dynamic.buildspecs);
            let images: Vec<Option<String>> = options(&dynamic.images);
            let computes: Vec<Option<String>> = options(&dynamic.compute_types);
            let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
            for (name, values) in &dynamic.variables {
                let mut next = Vec::new();
                for combo in &combos {
                    for v in values {
                        let mut c = combo.clone();
                        c.push((name.clone(), v.clone()));
                        next.push(c);
                    }
                }
                combos = next;
            }
            let mut out = Vec::new();
            for b in &buildspecs {
                for i in &images {
                    for c in &computes {
                        for vars in &combos {
                            let mut s = settings.clone();
                            for (k, v) in vars {
                                s.variables.retain(|(n, _)| n != k);
                                s.variables.push((k.clone(), v.clone()));
                            }
                            if i.is_some() {
                                s.image = i.clone();
                            }
                            if c.is_some() {
                                s.compute_type = c.clone();
                            }
                            out.push(Child {
                                identifier: format!("build{}", out.len() + 1),
                                buildspec: b.clone(),
                                depends_on: Vec::new(),
                                settings: s,
                                shard: None,
                            });
                        }
                    }
                }
            }
            out
        }
    }
}

fn options(values: &[String]) -> Vec<Option<String>> {
    if values.is_empty() { vec![None] } else { values.iter().cloned().map(Some).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(yaml: &str) -> BatchKind {
        let spec = crate::buildspec::parse("b.yml", yaml).buildspec.expect("valid");
        spec.batch.unwrap().kind.unwrap()
    }

    #[test]
    fn a_matrix_is_every_combination() {
        // R-BATCH-07: 2 buildspecs × 3 values = 6; two variable lists multiply.
        let k = kind(
            "version: 0.2\nbatch:\n  build-matrix:\n    static:\n      ignore-failure: true\n      env:\n        variables: {KEEP: k, OS: none}\n    dynamic:\n      buildspec: [a.yml, b.yml]\n      env:\n        variables:\n          OS: [linux, mac, win]\nphases: {}\n",
        );
        let children = plan(&k);
        assert_eq!(children.len(), 6);
        assert_eq!(children[0].identifier, "build1");
        assert_eq!(children[5].buildspec.as_deref(), Some("b.yml"));
        assert_eq!(
            children[4].settings.variables,
            [("KEEP".into(), "k".into()), ("OS".into(), "mac".into())]
        );
        assert!(children.iter().all(|c| c.settings.ignore_failure));
        let k = kind(
            "version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n      env:\n        image: [i1, i2]\n        variables:\n          A: [1, 2, 3]\n          B: [x, y]\nphases: {}\n",
        );
        let children = plan(&k);
        assert_eq!(children.len(), 12);
        assert_eq!(children[11].settings.image.as_deref(), Some("i2"));
        assert_eq!(children[1].settings.variables, [("A".into(), "1".into()), ("B".into(), "y".into())]);
    }

    #[test]
    fn lists_graphs_and_fanouts() {
        let k = kind(
            "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n    - identifier: b\n      depend-on: [a]\n      buildspec: ci/b.yml\n      env:\n        image: img\n        variables: {V: '1'}\nphases: {}\n",
        );
        let c = plan(&k);
        assert_eq!(c[1].depends_on, ["a"]);
        assert_eq!(c[1].buildspec.as_deref(), Some("ci/b.yml"));
        assert_eq!(c[1].settings.image.as_deref(), Some("img"));
        let k = kind("version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 3\nphases: {}\n");
        let c = plan(&k);
        assert_eq!(c.iter().map(|c| c.shard).collect::<Vec<_>>(), [Some((0, 3)), Some((1, 3)), Some((2, 3))]);
    }

    #[test]
    fn check_catches_bad_batches() {
        for (yaml, code) in [
            ("batch:\n  build-list:\n    - identifier: has-dash\n", "batch-identifier"),
            ("batch:\n  build-list:\n    - identifier: a\n    - identifier: a\n", "batch-identifier"),
            ("batch:\n  build-graph:\n    - identifier: a\n      depend-on: [b]\n", "batch-depend-on"),
            (
                "batch:\n  build-graph:\n    - identifier: a\n      depend-on: [b]\n    - identifier: b\n      depend-on: [a]\n",
                "batch-cycle",
            ),
            ("batch:\n  build-fanout:\n    parallelism: 0\n", "batch-parallelism"),
        ] {
            let parsed = crate::buildspec::parse("b.yml", &format!("version: 0.2\n{yaml}phases: {{}}\n"));
            assert!(
                parsed.diagnostics.issues.iter().any(|i| i.code == code),
                "{yaml}: {:?}",
                parsed.diagnostics.issues
            );
        }
    }
}
