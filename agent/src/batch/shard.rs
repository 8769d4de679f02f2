//! Test splitting for build-fanout (pure; R-BATCH-08): which of the files a shard runs.
//!
//! - `equal-distribution` (the default): the names sorted and cut into `count` runs whose sizes
//!   differ by at most one; shard `i` takes run `i`.
//! - `stability`: a file's shard is a hash of its name modulo `count`, so adding or removing
//!   other files never moves it.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    EqualDistribution,
    Stability,
}

impl Strategy {
    pub fn parse(text: &str) -> Result<Strategy, String> {
        match text {
            "equal-distribution" => Ok(Strategy::EqualDistribution),
            "stability" => Ok(Strategy::Stability),
            other => Err(format!("unknown sharding strategy `{other}`; use equal-distribution or stability")),
        }
    }
}

/// The files of shard `index` (from 0) of `count`, in name order.
pub fn pick(files: &[String], index: u32, count: u32, strategy: Strategy) -> Vec<String> {
    let count = count.max(1) as usize;
    let index = index as usize;
    let mut sorted: Vec<String> = files.iter().filter(|f| !f.is_empty()).cloned().collect();
    sorted.sort();
    sorted.dedup();
    match strategy {
        Strategy::EqualDistribution => {
            let (base, extra) = (sorted.len() / count, sorted.len() % count);
            let start = index * base + index.min(extra);
            let len = base + usize::from(index < extra);
            sorted.into_iter().skip(start).take(len).collect()
        }
        Strategy::Stability => sorted
            .into_iter()
            .filter(|f| {
                let h = Sha256::digest(f.as_bytes());
                let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
                (n % count as u64) as usize == index
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("tests/test_{i:03}.py")).collect()
    }

    #[test]
    fn every_file_exactly_once_under_both_strategies() {
        for strategy in [Strategy::EqualDistribution, Strategy::Stability] {
            for (n, count) in [(0, 3), (1, 3), (10, 3), (17, 4), (5, 5), (3, 7)] {
                let all = files(n);
                let mut seen: Vec<String> = (0..count).flat_map(|i| pick(&all, i, count, strategy)).collect();
                seen.sort();
                assert_eq!(seen, all, "{strategy:?} {n} files / {count}");
            }
        }
        // Equal distribution: sizes differ by at most one.
        let sizes: Vec<usize> =
            (0..4).map(|i| pick(&files(17), i, 4, Strategy::EqualDistribution).len()).collect();
        assert_eq!(sizes, [5, 4, 4, 4]);
    }

    #[test]
    fn stability_keeps_files_where_they_were() {
        let before = files(20);
        let mut after = before.clone();
        after.extend(["tests/new_a.py".to_string(), "tests/new_b.py".to_string()]);
        for i in 0..4 {
            let was = pick(&before, i, 4, Strategy::Stability);
            let now = pick(&after, i, 4, Strategy::Stability);
            assert!(was.iter().all(|f| now.contains(f)), "shard {i} lost a file");
        }
        // Equal distribution does move files when others are added (why stability exists).
        let moved = (0..4).any(|i| {
            let was = pick(&before, i, 4, Strategy::EqualDistribution);
            let now = pick(&after, i, 4, Strategy::EqualDistribution);
            was.iter().any(|f| !now.contains(f))
        });
        assert!(moved);
    }
}
