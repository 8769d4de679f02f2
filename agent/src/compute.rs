//! CodeBuild's compute types as limits: the memory and vCPUs a build gets, so that a build that
//! runs out of memory on CodeBuild runs out of memory here too.
//!
//! The table is CodeBuild's "About environment types" (EC2 compute mode) in the user guide,
//! <https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html>,
//! read 2026-12-07, whose "GB" are taken as GiB (the API reference now says "GiB"). Lambda
//! compute types give memory only (Lambda's CPU follows its memory). `ATTRIBUTE_BASED_COMPUTE`
//! takes its vCPUs and memory (GiB) from the project's `computeConfiguration`.

/// What a build may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// `None`: the compute type says nothing about CPUs (Lambda).
    pub cpus: Option<u32>,
}

const GIB: u64 = 1 << 30;

/// (environment type, compute type, memory in GiB, vCPUs).
const TABLE: &[(&str, &str, u64, u32)] = &[
    ("LINUX_CONTAINER", "BUILD_GENERAL1_SMALL", 3, 2),
    ("LINUX_CONTAINER", "BUILD_GENERAL1_MEDIUM", 7, 4),
    ("LINUX_CONTAINER", "BUILD_GENERAL1_LARGE", 15, 8),
    ("LINUX_CONTAINER", "BUILD_GENERAL1_XLARGE", 70, 36),
    ("LINUX_CONTAINER", "BUILD_GENERAL1_2XLARGE", 145, 72),
    ("ARM_CONTAINER", "BUILD_GENERAL1_SMALL", 4, 2),
    ("ARM_CONTAINER", "BUILD_GENERAL1_MEDIUM", 8, 4),
    ("ARM_CONTAINER", "BUILD_GENERAL1_LARGE", 16, 8),
    ("ARM_CONTAINER", "BUILD_GENERAL1_XLARGE", 64, 32),
    ("ARM_CONTAINER", "BUILD_GENERAL1_2XLARGE", 96, 48),
    ("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_SMALL", 16, 4),
    ("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_LARGE", 255, 32),
];

/// The compute configuration of `ATTRIBUTE_BASED_COMPUTE`: vCPUs and memory in GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Configuration {
    pub vcpus: Option<u32>,
    pub memory_gib: Option<u64>,
}

/// The limits of `compute_type` on `environment_type` (LINUX_CONTAINER when empty). `Err` says
/// why there are none (a type runspec does not know, or an instance type it cannot size).
pub fn limits(
    environment_type: &str,
    compute_type: &str,
    configuration: Configuration,
) -> Result<Limits, String> {
    let environment = if environment_type.is_empty() { "LINUX_CONTAINER" } else { environment_type };
    if let Some(&(_, _, memory, cpus)) =
        TABLE.iter().find(|(e, c, _, _)| *e == environment && *c == compute_type)
    {
        return Ok(Limits { memory_bytes: memory * GIB, cpus: Some(cpus) });
    }
    let lambda = compute_type.strip_prefix("BUILD_LAMBDA_").and_then(|m| m.strip_suffix("GB"));
    if let Some(gb) = lambda.and_then(|gb| gb.parse::<u64>().ok()) {
        return Ok(Limits { memory_bytes: gb * GIB, cpus: None });
    }
    match compute_type {
        "ATTRIBUTE_BASED_COMPUTE" => match configuration {
            Configuration { vcpus: Some(cpus), memory_gib: Some(memory) } => {
                Ok(Limits { memory_bytes: memory * GIB, cpus: Some(cpus) })
            }
            _ => Err("ATTRIBUTE_BASED_COMPUTE needs computeConfiguration's vCpu and memory".into()),
        },
        "CUSTOM_INSTANCE_TYPE" => {
            Err("runspec does not know the size of EC2 instance types (CUSTOM_INSTANCE_TYPE)".into())
        }
        other => Err(format!("runspec does not know the compute type {other} on {environment}")),
    }
}

impl Limits {
    /// The limits as a machine with `cpus` CPUs and `memory_bytes` of memory can give them:
    /// CPUs are clamped to the machine's (an engine refuses more); memory is kept (a limit
    /// above the machine's memory is no limit). The warnings say what the machine lacks.
    pub fn on_machine(self, compute_type: &str, cpus: u32, memory_bytes: u64) -> (Limits, Vec<String>) {
        let mut warnings = Vec::new();
        let mut limits = self;
        if let Some(wanted) = self.cpus.filter(|&c| c > cpus) {
            warnings.push(format!(
                "{compute_type} has {wanted} vCPUs and this machine {cpus}: the build gets {cpus}"
            ));
            limits.cpus = Some(cpus);
        }
        if self.memory_bytes > memory_bytes {
            warnings.push(format!(
                "{compute_type} has {} GiB of memory and this machine {:.1} GiB: the build may run out of memory here first",
                self.memory_bytes / GIB,
                memory_bytes as f64 / GIB as f64
            ));
        }
        (limits, warnings)
    }

    /// `3 GiB, 2 vCPUs`.
    pub fn describe(&self) -> String {
        let memory = format!("{} GiB", self.memory_bytes as f64 / GIB as f64);
        match self.cpus {
            Some(c) => format!("{memory} of memory, {c} vCPUs"),
            None => format!("{memory} of memory"),
        }
    }
}

/// This machine's CPUs and memory.
pub fn machine() -> (u32, u64) {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024);
    (cpus, memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_types_by_environment() {
        let none = Configuration::default();
        let table = [
            ("", "BUILD_GENERAL1_SMALL", Some((3, Some(2)))),
            ("LINUX_CONTAINER", "BUILD_GENERAL1_MEDIUM", Some((7, Some(4)))),
            ("LINUX_CONTAINER", "BUILD_GENERAL1_LARGE", Some((15, Some(8)))),
            ("LINUX_CONTAINER", "BUILD_GENERAL1_XLARGE", Some((70, Some(36)))),
            ("LINUX_CONTAINER", "BUILD_GENERAL1_2XLARGE", Some((145, Some(72)))),
            ("ARM_CONTAINER", "BUILD_GENERAL1_SMALL", Some((4, Some(2)))),
            ("ARM_CONTAINER", "BUILD_GENERAL1_2XLARGE", Some((96, Some(48)))),
            ("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_LARGE", Some((255, Some(32)))),
            ("LINUX_LAMBDA_CONTAINER", "BUILD_LAMBDA_4GB", Some((4, None))),
            ("ARM_LAMBDA_CONTAINER", "BUILD_LAMBDA_10GB", Some((10, None))),
            ("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_MEDIUM", None),
            ("LINUX_CONTAINER", "CUSTOM_INSTANCE_TYPE", None),
            ("LINUX_CONTAINER", "ATTRIBUTE_BASED_COMPUTE", None),
            ("LINUX_CONTAINER", "BUILD_GENERAL2_SMALL", None),
        ];
        for (env, compute, expected) in table {
            let got = limits(env, compute, none).ok().map(|l| (l.memory_bytes / GIB, l.cpus));
            assert_eq!(got, expected, "{env} {compute}");
        }
        let configured = Configuration { vcpus: Some(6), memory_gib: Some(12) };
        assert_eq!(
            limits("LINUX_CONTAINER", "ATTRIBUTE_BASED_COMPUTE", configured),
            Ok(Limits { memory_bytes: 12 * GIB, cpus: Some(6) })
        );
    }

    #[test]
    fn a_smaller_machine_clamps_cpus_and_warns() {
        let medium = limits("", "BUILD_GENERAL1_MEDIUM", Configuration::default()).unwrap();
        let (on_two, warnings) = medium.on_machine("BUILD_GENERAL1_MEDIUM", 2, 4 * GIB);
        assert_eq!(on_two, Limits { memory_bytes: 7 * GIB, cpus: Some(2) });
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("4 vCPUs and this machine 2"), "{warnings:?}");
        let (same, none) = medium.on_machine("BUILD_GENERAL1_MEDIUM", 8, 64 * GIB);
        assert_eq!((same, none.len()), (medium, 0));
        assert_eq!(medium.describe(), "7 GiB of memory, 4 vCPUs");
    }
}
