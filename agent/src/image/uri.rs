//! ECR image references (pure): `<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag]`.

use std::fmt;

/// A private ECR image reference with its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com`
    pub registry: String,
    pub account: String,
    pub region: String,
    pub repository: String,
    pub tag: String,
}

impl EcrImage {
    /// `registry/repository` without the tag.
    pub fn repository_uri(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for EcrImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// Parses an ECR image URI; the tag defaults to `latest`, as with `docker push`.
pub fn parse(text: &str) -> Result<EcrImage, String> {
    let example = "<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag]";
    let Some((registry, rest)) = text.split_once('/') else {
        return Err(format!("`{text}` is not an ECR image URI ({example})"));
    };
    if registry == "public.ecr.aws" {
        return Err(format!(
            "`{text}` is in ECR Public, which runspec does not push to; use a private repository ({example})"
        ));
    }
    let labels: Vec<&str> = registry.split('.').collect();
    let ecr = match labels.as_slice() {
        [account, "dkr", ecr, region, "amazonaws", "com"]
        | [account, "dkr", ecr, region, "amazonaws", "com", "cn"]
            if matches!(*ecr, "ecr" | "ecr-fips") =>
        {
            Some((*account, *region))
        }
        _ => None,
    };
    let Some((account, region)) = ecr else {
        return Err(format!("`{registry}` is not an ECR registry ({example})"));
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{account}` in `{text}` is not a 12-digit AWS account ID"));
    }
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("`{region}` in `{text}` is not an AWS region"));
    }
    if rest.contains('@') {
        return Err(format!("`{text}` names a digest; push to a tag (`repository:tag`)"));
    }
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((r, t)) => (r, t),
        None => (rest, "latest"),
    };
    check_repository(repository).map_err(|why| format!("repository `{repository}` in `{text}` {why}"))?;
    check_tag(tag).map_err(|why| format!("tag `{tag}` in `{text}` {why}"))?;
    Ok(EcrImage {
        registry: registry.to_string(),
        account: account.to_string(),
        region: region.to_string(),
        repository: repository.to_string(),
        tag: tag.to_string(),
    })
}

/// ECR's repository name rule: lowercase path components of `[a-z0-9]` separated by `.`, `_`,
/// `-`, joined with `/`; 2 to 256 characters.
fn check_repository(name: &str) -> Result<(), &'static str> {
    if name.len() < 2 || name.len() > 256 {
        return Err("must be 2 to 256 characters");
    }
    for part in name.split('/') {
        let ok = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && part.as_bytes()[0].is_ascii_alphanumeric()
            && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(
                "must be lowercase letters, digits and . _ - / (each part starting and ending with a letter or digit)",
            );
        }
    }
    Ok(())
}

/// Docker's tag rule: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok { Ok(()) } else { Err("must be 1 to 128 of A-Z a-z 0-9 _ . - (not starting with . or -)") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_uris() {
        let i = parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web:abc1234").unwrap();
        assert_eq!(
            (i.account.as_str(), i.region.as_str(), i.repository.as_str(), i.tag.as_str()),
            ("123456789012", "us-east-1", "team/web", "abc1234")
        );
        assert_eq!(i.repository_uri(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web");
        assert_eq!(i.to_string(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web:abc1234");
        let ok = [
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web", "latest"),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/web:v1.2", "v1.2"),
            ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/web:_x", "_x"),
        ];
        for (text, tag) in ok {
            assert_eq!(parse(text).unwrap().tag, tag, "{text}");
        }
        let bad = [
            ("web:latest", "not an ECR image URI"),
            ("docker.io/library/web:1", "not an ECR registry"),
            ("public.ecr.aws/x/web:1", "ECR Public"),
            ("12345.dkr.ecr.us-east-1.amazonaws.com/web", "12-digit AWS account ID"),
            ("123456789012.dkr.ecr.US_EAST.amazonaws.com/web", "not an AWS region"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/Web:1", "lowercase"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/web/:1", "lowercase"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:-x", "not starting with"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:", "not starting with"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:00", "names a digest"),
        ];
        for (text, says) in bad {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
