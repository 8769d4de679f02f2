//! CodeBuild's webhook filters (pure): a webhook starts a build for an event when any of its
//! filter groups passes, and a group passes when each of its filters does
//! (botocore's CodeBuild model, `Webhook.filterGroups`; the CodeBuild User Guide, "GitHub
//! webhook events"). Each group has an `EVENT` filter, a comma-separated list of event types;
//! every other filter is a regular expression tried against one field of the event (a match
//! anywhere in it, so patterns anchor themselves: `^refs/heads/main$`).
//! `excludeMatchedPattern` turns a filter around: the event passes when the pattern does not
//! match. A field the event does not have (a push has no base ref, a push no release name)
//! matches nothing. `FILE_PATH` matches when the path of any changed file does.
//!
//! Without filter groups a webhook builds pushes and the pull requests that are created,
//! updated or reopened (the AWS CDK documents this default: "all pushes and Pull Requests").
//! `branchFilter` (the older setting) must also match the branch name when it is set.

use regex::{Regex, RegexBuilder};

use crate::shapes::codebuild::WebhookFilter;

/// A compiled pattern is at most this large (the regex crate's size limit): a request cannot
/// make the server build an enormous automaton.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// An event type, as the `EVENT` filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Push,
    PullRequestCreated,
    PullRequestUpdated,
    PullRequestReopened,
    PullRequestMerged,
    PullRequestClosed,
    Released,
    Prereleased,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Push,
        EventKind::PullRequestCreated,
        EventKind::PullRequestUpdated,
        EventKind::PullRequestReopened,
        EventKind::PullRequestMerged,
        EventKind::PullRequestClosed,
        EventKind::Released,
        EventKind::Prereleased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Push => "PUSH",
            EventKind::PullRequestCreated => "PULL_REQUEST_CREATED",
            EventKind::PullRequestUpdated => "PULL_REQUEST_UPDATED",
            EventKind::PullRequestReopened => "PULL_REQUEST_REOPENED",
            EventKind::PullRequestMerged => "PULL_REQUEST_MERGED",
            EventKind::PullRequestClosed => "PULL_REQUEST_CLOSED",
            EventKind::Released => "RELEASED",
            EventKind::Prereleased => "PRERELEASED",
        }
    }

    fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn is_pull_request(self) -> bool {
        matches!(
            self,
            EventKind::PullRequestCreated
                | EventKind::PullRequestUpdated
                | EventKind::PullRequestReopened
                | EventKind::PullRequestMerged
                | EventKind::PullRequestClosed
        )
    }
}

/// One forge event as the filters see it, whatever forge sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The account id of who caused it (GitHub's `sender.id`).
    pub actor_account_id: Option<String>,
    /// `refs/heads/<branch>` or `refs/tags/<tag>`: what was pushed, or a pull request's head.
    pub head_ref: Option<String>,
    /// A pull request's base (`refs/heads/<branch>`).
    pub base_ref: Option<String>,
    /// The paths of the changed files.
    pub files: Vec<String>,
    /// The head commit's message.
    pub commit_message: Option<String>,
    /// A release's tag and name.
    pub tag_name: Option<String>,
    pub release_name: Option<String>,
    pub repository_name: Option<String>,
}

impl Event {
    /// An event of `kind` with no fields yet.
    pub fn new(kind: EventKind) -> Event {
        Event {
            kind,
            actor_account_id: None,
            head_ref: None,
            base_ref: None,
            files: Vec::new(),
            commit_message: None,
            tag_name: None,
            release_name: None,
            repository_name: None,
        }
    }
}

/// Which field of the event a pattern is tried against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ActorAccountId,
    HeadRef,
    BaseRef,
    FilePath,
    CommitMessage,
    TagName,
    ReleaseName,
    RepositoryName,
}

#[derive(Debug)]
enum Test {
    Event(Vec<EventKind>),
    Pattern(Field, Regex),
}

#[derive(Debug)]
struct Filter {
    test: Test,
    exclude: bool,
}

/// A webhook's filters, checked and compiled.
#[derive(Debug)]
pub struct Filters {
    groups: Vec<Vec<Filter>>,
    branch: Option<Regex>,
}

fn compile(pattern: &str, what: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("{what}: `{pattern}` is not a regular expression runspec can use: {e}"))
}

impl Filters {
    /// Checks and compiles `filterGroups` and `branchFilter`; an error says which filter is
    /// wrong and why (CodeBuild answers InvalidInputException).
    pub fn new(groups: &[Vec<WebhookFilter>], branch_filter: Option<&str>) -> Result<Filters, String> {
        let mut compiled = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let mut filters = Vec::new();
            let mut events = 0;
            for (f, filter) in group.iter().enumerate() {
                let at = format!("filterGroups[{g}][{f}]");
                let field = match filter.kind.as_str() {
                    "EVENT" => None,
                    "ACTOR_ACCOUNT_ID" => Some(Field::ActorAccountId),
                    "HEAD_REF" => Some(Field::HeadRef),
                    "BASE_REF" => Some(Field::BaseRef),
                    "FILE_PATH" => Some(Field::FilePath),
                    "COMMIT_MESSAGE" => Some(Field::CommitMessage),
                    "TAG_NAME" => Some(Field::TagName),
                    "RELEASE_NAME" => Some(Field::ReleaseName),
                    "REPOSITORY_NAME" => Some(Field::RepositoryName),
                    other => {
                        return Err(format!(
                            "{at}: runspec does not filter on `{other}` (EVENT, ACTOR_ACCOUNT_ID, HEAD_REF, BASE_REF, FILE_PATH, COMMIT_MESSAGE, TAG_NAME, RELEASE_NAME, REPOSITORY_NAME)"
                        ));
                    }
                };
                let test = match field {
                    None => {
                        events += 1;
                        let mut kinds = Vec::new();
                        for name in filter.pattern.split(',').map(str::trim) {
                            let kind = EventKind::parse(name).ok_or_else(|| {
                                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                                format!("{at}: `{name}` is not an event type ({})", known.join(", "))
                            })?;
                            kinds.push(kind);
                        }
                        Test::Event(kinds)
                    }
                    Some(field) => Test::Pattern(field, compile(&filter.pattern, &at)?),
                };
                filters.push(Filter { test, exclude: filter.exclude_matched_pattern.unwrap_or(false) });
            }
            if events != 1 {
                return Err(format!(
                    "filterGroups[{g}]: a filter group has one EVENT filter (this one has {events})"
                ));
            }
            compiled.push(filters);
        }
        let branch =
            branch_filter.filter(|b| !b.is_empty()).map(|b| compile(b, "branchFilter")).transpose()?;
        Ok(Filters { groups: compiled, branch })
    }

    /// Whether `event` starts a build.
    pub fn matches(&self, event: &Event) -> bool {
        if let Some(branch) = &self.branch {
            let name = event.head_ref.as_deref().and_then(|r| r.strip_prefix("refs/heads/"));
            if !name.is_some_and(|n| branch.is_match(n)) {
                return false;
            }
        }
        if self.groups.is_empty() {
            return matches!(
                event.kind,
                EventKind::Push
                    | EventKind::PullRequestCreated
                    | EventKind::PullRequestUpdated
                    | EventKind::PullRequestReopened
            );
        }
        self.groups.iter().any(|group| group.iter().all(|f| f.passes(event)))
    }
}

impl Filter {
    fn passes(&self, event: &Event) -> bool {
        let matched = match &self.test {
            Test::Event(kinds) => kinds.contains(&event.kind),
            Test::Pattern(Field::FilePath, re) => event.files.iter().any(|f| re.is_match(f)),
            Test::Pattern(field, re) => {
                let value = match field {
                    Field::ActorAccountId => &event.actor_account_id,
                    Field::HeadRef => &event.head_ref,
                    Field::BaseRef => &event.base_ref,
                    Field::CommitMessage => &event.commit_message,
                    Field::TagName => &event.tag_name,
                    Field::ReleaseName => &event.release_name,
                    Field::RepositoryName => &event.repository_name,
                    Field::FilePath => unreachable!("matched above"),
                };
                value.as_deref().is_some_and(|v| re.is_match(v))
            }
        };
        matched != self.exclude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: &str, pattern: &str) -> WebhookFilter {
        WebhookFilter { kind: kind.into(), pattern: pattern.into(), exclude_matched_pattern: None }
    }

    fn not(kind: &str, pattern: &str) -> WebhookFilter {
        WebhookFilter { exclude_matched_pattern: Some(true), ..f(kind, pattern) }
    }

    fn push(head: &str) -> Event {
        Event { head_ref: Some(head.into()), ..Event::new(EventKind::Push) }
    }

    fn pr(kind: EventKind, head: &str, base: &str) -> Event {
        Event { head_ref: Some(head.into()), base_ref: Some(base.into()), ..Event::new(kind) }
    }

    const PRS: &str = "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED, PULL_REQUEST_MERGED, PULL_REQUEST_CLOSED";

    #[test]
    fn the_user_guides_examples_and_the_rules() {
        use EventKind::*;
        let main = "refs/heads/main";
        let mine = "refs/heads/myBranch";
        let with_files =
            |files: &[&str]| Event { files: files.iter().map(|s| s.to_string()).collect(), ..push(main) };
        let with_message = |m: &str| Event { commit_message: Some(m.into()), ..push(main) };
        let by = |id: &str| Event { actor_account_id: Some(id.into()), ..push(main) };
        let release = |kind, tag: &str| Event {
            tag_name: Some(tag.into()),
            release_name: Some(format!("Release {tag}")),
            ..Event::new(kind)
        };
        type Case = (&'static str, Vec<Vec<WebhookFilter>>, Option<&'static str>, Event, bool);
        let two_groups = || {
            vec![
                vec![
                    f("EVENT", "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED"),
                    f("HEAD_REF", "^refs/heads/myBranch$"),
                    f("BASE_REF", "^refs/heads/main$"),
                ],
                vec![f("EVENT", "PUSH"), f("HEAD_REF", "^refs/heads/myBranch$")],
            ]
        };
        let no_tags = || vec![vec![f("EVENT", &format!("PUSH, {PRS}")), not("HEAD_REF", "^refs/tags/.*")]];
        let cases: Vec<Case> = vec![
            // "a webhook filter that triggers a build for pull requests only"
            (
                "pull requests only: a PR",
                vec![vec![f("EVENT", PRS)]],
                None,
                pr(PullRequestCreated, mine, main),
                true,
            ),
            ("pull requests only: a push", vec![vec![f("EVENT", PRS)]], None, push(main), false),
            // The two filter groups of "Filter GitHub webhook events (SDK)".
            (
                "group 1: a PR from myBranch to main",
                two_groups(),
                None,
                pr(PullRequestUpdated, mine, main),
                true,
            ),
            (
                "group 1: a PR from another branch",
                two_groups(),
                None,
                pr(PullRequestCreated, "refs/heads/x", main),
                false,
            ),
            (
                "group 1: a PR into another base",
                two_groups(),
                None,
                pr(PullRequestCreated, mine, "refs/heads/dev"),
                false,
            ),
            (
                "group 1: a merged PR is not listed",
                two_groups(),
                None,
                pr(PullRequestMerged, mine, main),
                false,
            ),
            ("group 2: a push to myBranch", two_groups(), None, push(mine), true),
            ("group 2: a push to main", two_groups(), None, push(main), false),
            // "a build is triggered for all requests except tag events"
            ("all but tags: a tag push", no_tags(), None, push("refs/tags/v1"), false),
            ("all but tags: a branch push", no_tags(), None, push(main), true),
            // FILE_PATH: any changed file.
            (
                "a changed buildspec",
                vec![vec![f("EVENT", "PUSH"), f("FILE_PATH", "^buildspec.*")]],
                None,
                with_files(&["README.md", "buildspec.yml"]),
                true,
            ),
            (
                "no changed buildspec",
                vec![vec![f("EVENT", "PUSH"), f("FILE_PATH", "^buildspec.*")]],
                None,
                with_files(&["README.md"]),
                false,
            ),
            (
                "excluded docs: only docs changed",
                vec![vec![f("EVENT", "PUSH"), not("FILE_PATH", "^docs/")]],
                None,
                with_files(&["docs/a.md"]),
                false,
            ),
            (
                "COMMIT_MESSAGE",
                vec![vec![f("EVENT", "PUSH"), f("COMMIT_MESSAGE", r"\[CodeBuild\]")]],
                None,
                with_message("Fix [CodeBuild] cache"),
                true,
            ),
            (
                "COMMIT_MESSAGE, no match",
                vec![vec![f("EVENT", "PUSH"), f("COMMIT_MESSAGE", r"\[CodeBuild\]")]],
                None,
                with_message("Fix"),
                false,
            ),
            (
                "ACTOR_ACCOUNT_ID",
                vec![vec![f("EVENT", "PUSH"), f("ACTOR_ACCOUNT_ID", "^12345$")]],
                None,
                by("12345"),
                true,
            ),
            (
                "ACTOR_ACCOUNT_ID, another",
                vec![vec![f("EVENT", "PUSH"), f("ACTOR_ACCOUNT_ID", "^12345$")]],
                None,
                by("123456"),
                false,
            ),
            (
                "RELEASED with TAG_NAME",
                vec![vec![f("EVENT", "RELEASED"), f("TAG_NAME", "^v1")]],
                None,
                release(Released, "v1.2"),
                true,
            ),
            (
                "PRERELEASED is another event",
                vec![vec![f("EVENT", "RELEASED"), f("TAG_NAME", "^v1")]],
                None,
                release(Prereleased, "v1.2"),
                false,
            ),
            (
                "RELEASE_NAME",
                vec![vec![f("EVENT", "RELEASED, PRERELEASED"), f("RELEASE_NAME", "^Release v2")]],
                None,
                release(Prereleased, "v2.0"),
                true,
            ),
            // A field the event lacks matches nothing (and so passes an excluding filter).
            (
                "BASE_REF on a push",
                vec![vec![f("EVENT", "PUSH"), f("BASE_REF", "^refs/heads/main$")]],
                None,
                push(main),
                false,
            ),
            (
                "excluded BASE_REF on a push",
                vec![vec![f("EVENT", "PUSH"), not("BASE_REF", "^refs/heads/main$")]],
                None,
                push(main),
                true,
            ),
            // Without filter groups: pushes and created, updated, reopened pull requests.
            ("default: a push", vec![], None, push(main), true),
            ("default: a reopened PR", vec![], None, pr(PullRequestReopened, mine, main), true),
            ("default: a merged PR", vec![], None, pr(PullRequestMerged, mine, main), false),
            ("default: a release", vec![], None, release(Released, "v1"), false),
            // branchFilter: the branch name, with the groups or without them.
            ("branchFilter: main", vec![], Some("^main$"), push(main), true),
            ("branchFilter: another branch", vec![], Some("^main$"), push(mine), false),
            ("branchFilter: a tag is no branch", vec![], Some(".*"), push("refs/tags/v1"), false),
            ("branchFilter with groups", vec![vec![f("EVENT", "PUSH")]], Some("^main$"), push(mine), false),
            (
                "an excluded EVENT",
                vec![vec![not("EVENT", "PUSH")]],
                None,
                pr(PullRequestClosed, mine, main),
                true,
            ),
        ];
        for (name, groups, branch, event, expected) in cases {
            let filters = Filters::new(&groups, branch).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(filters.matches(&event), expected, "{name}");
        }
    }

    #[test]
    fn broken_filters_say_which_and_why() {
        let cases: Vec<(Vec<Vec<WebhookFilter>>, &str)> = vec![
            (
                vec![vec![f("HEAD_REF", "^refs/heads/main$")]],
                "filterGroups[0]: a filter group has one EVENT filter (this one has 0)",
            ),
            (vec![vec![f("EVENT", "PUSH"), f("EVENT", "PUSH")]], "this one has 2"),
            (
                vec![vec![f("EVENT", "PUSH, PULL_REQUEST_OPENED")]],
                "filterGroups[0][0]: `PULL_REQUEST_OPENED` is not an event type",
            ),
            (
                vec![vec![f("EVENT", "PUSH"), f("HEAD_REF", "^refs/(heads")]],
                "filterGroups[0][1]: `^refs/(heads` is not a regular expression",
            ),
            (vec![vec![f("EVENT", "PUSH"), f("WORKFLOW_NAME", "x")]], "does not filter on `WORKFLOW_NAME`"),
            (vec![vec![f("EVENT", "PUSH"), f("FILE_PATH", "a{1000}{1000}{1000}")]], "filterGroups[0][1]"),
        ];
        for (groups, says) in cases {
            let e = Filters::new(&groups, None).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        assert!(Filters::new(&[], Some("(")).unwrap_err().starts_with("branchFilter"));
    }
}
