//! CloudWatch Logs' reads of the build logs: GetLogEvents, FilterLogEvents (simple term
//! patterns) and DescribeLogStreams. A log group is `/aws/codebuild/<project>`, a stream a
//! build's uuid. Each call reads a page of a log, never the whole of it.

use std::collections::BTreeMap;

use super::{Result, Service, ServiceError, invalid};
use crate::serve::logs;
use crate::serve::store::BuildRow;
use crate::shapes::logs as cw;

/// How much of the logs one FilterLogEvents call searches before it answers with a token.
const FILTER_BUDGET: u64 = 8 << 20;

fn group_missing() -> ServiceError {
    ServiceError::NotFound("The specified log group does not exist.".into())
}

fn io(e: std::io::Error) -> ServiceError {
    ServiceError::Failed(format!("the log cannot be read: {e}"))
}

/// The group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
fn group_of(name: Option<&str>, identifier: Option<&str>) -> Result<String> {
    match (name, identifier) {
        (Some(n), _) => Ok(n.to_string()),
        (None, Some(id)) => {
            let id = id.strip_suffix(":*").unwrap_or(id);
            Ok(id.rsplit_once(":log-group:").map_or(id, |(_, g)| g).to_string())
        }
        (None, None) => Err(invalid("Either logGroupName or logGroupIdentifier must be given")),
    }
}

impl Service {
    /// The streams of a log group: the builds of `/aws/codebuild/<project>`, oldest first.
    fn streams(&self, group: &str) -> Result<Vec<(String, BuildRow)>> {
        let project = group.strip_prefix("/aws/codebuild/").ok_or_else(group_missing)?;
        let mut out = Vec::new();
        for id in self.store.build_ids(Some(project), true)? {
            if let Some(row) = self.store.build(&id)?
                && let Some(stream) = row.build.logs.as_ref().and_then(|l| l.stream_name.clone())
            {
                out.push((stream, row));
            }
        }
        if out.is_empty() && self.store.project(project)?.is_none() {
            return Err(group_missing());
        }
        Ok(out)
    }

    pub fn get_log_events(&self, i: &cw::GetLogEventsRequest) -> Result<cw::GetLogEventsResponse> {
        let group = group_of(i.log_group_name.as_deref(), i.log_group_identifier.as_deref())?;
        if !self.streams(&group)?.iter().any(|(s, _)| *s == i.log_stream_name) {
            return Err(ServiceError::NotFound("The specified log stream does not exist.".into()));
        }
        let path = self.log_file(&i.log_stream_name)?;
        let limit = i.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
        let (from, events) = match i.next_token.as_deref() {
            Some(t) => {
                let bad = || invalid("The specified nextToken is invalid.");
                let (back, offset) = match (t.strip_prefix("f/"), t.strip_prefix("b/")) {
                    (Some(o), _) => (false, o),
                    (_, Some(o)) => (true, o),
                    _ => return Err(bad()),
                };
                let offset: u64 = offset.parse().map_err(|_| bad())?;
                // Only offsets this server handed out: the start of a line of this log.
                if !logs::is_line_start(&path, offset).map_err(io)? {
                    return Err(bad());
                }
                if back {
                    logs::before(&path, Some(offset), limit).map_err(io)?
                } else {
                    (offset, logs::read(&path, offset, limit).map_err(io)?)
                }
            }
            None if i.start_from_head == Some(true) => (0, logs::read(&path, 0, limit).map_err(io)?),
            None => logs::before(&path, None, limit).map_err(io)?,
        };
        let start_time = i.start_time.unwrap_or(0).max(0) as u64;
        let end_time = i.end_time.map_or(u64::MAX, |t| t.max(0) as u64);
        let next = events.last().map_or(from, |e| e.next);
        let shown = events
            .into_iter()
            .filter(|e| e.timestamp >= start_time && e.timestamp < end_time)
            .map(|e| cw::OutputLogEvent {
                timestamp: Some(e.timestamp as i64),
                message: Some(e.message),
                ingestion_time: Some(e.timestamp as i64),
            })
            .collect();
        Ok(cw::GetLogEventsResponse {
            events: Some(shown),
            next_forward_token: Some(format!("f/{next}")),
            next_backward_token: Some(format!("b/{from}")),
        })
    }

    pub fn filter_log_events(&self, i: &cw::FilterLogEventsRequest) -> Result<cw::FilterLogEventsResponse> {
        let group = group_of(i.log_group_name.as_deref(), i.log_group_identifier.as_deref())?;
        let terms = pattern_terms(i.filter_pattern.as_deref().unwrap_or(""));
        let start_time = i.start_time.unwrap_or(0).max(0) as u64;
        let end_time = i.end_time.map_or(u64::MAX, |t| t.max(0) as u64);
        let limit = i.limit.unwrap_or(10_000).clamp(1, 10_000) as usize;
        // The token: how far each stream was read.
        let mut offsets: BTreeMap<String, u64> = match i.next_token.as_deref() {
            Some(t) => read_token(t).ok_or_else(|| invalid("The specified nextToken is invalid."))?,
            None => Default::default(),
        };
        let mut events = Vec::new();
        let mut searched = Vec::new();
        let mut budget = FILTER_BUDGET;
        let mut more = false;
        for (stream, _) in self.streams(&group)? {
            if i.log_stream_names.as_ref().is_some_and(|w| !w.contains(&stream))
                || i.log_stream_name_prefix.as_deref().is_some_and(|p| !stream.starts_with(p))
            {
                continue;
            }
            let path = self.log_file(&stream)?;
            let from = offsets.get(&stream).copied().unwrap_or(0);
            if from > 0 && !logs::is_line_start(&path, from).map_err(io)? {
                return Err(invalid("The specified nextToken is invalid."));
            }
            let mut full = false;
            let reached = logs::scan(&path, from, budget, &mut |e| {
                if e.timestamp >= start_time
                    && e.timestamp < end_time
                    && terms.iter().all(|t| e.message.contains(t.as_str()))
                {
                    events.push(cw::FilteredLogEvent {
                        log_stream_name: Some(stream.clone()),
                        timestamp: Some(e.timestamp as i64),
                        message: Some(e.message),
                        ingestion_time: Some(e.timestamp as i64),
                        event_id: Some(format!("{stream}/{}", e.next)),
                    });
                }
                full = events.len() >= limit;
                !full
            })
            .map_err(io)?;
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            budget = budget.saturating_sub(reached - from);
            let complete = reached >= len;
            offsets.insert(stream.clone(), reached);
            searched.push(cw::SearchedLogStream {
                log_stream_name: Some(stream),
                searched_completely: Some(complete),
            });
            if full || budget == 0 || !complete {
                more = true;
                break;
            }
        }
        events.sort_by_key(|e| e.timestamp.unwrap_or(0));
        Ok(cw::FilterLogEventsResponse {
            events: Some(events),
            searched_log_streams: Some(searched),
            next_token: more.then(|| token(&offsets)),
        })
    }

    pub fn describe_log_streams(
        &self,
        i: &cw::DescribeLogStreamsRequest,
    ) -> Result<cw::DescribeLogStreamsResponse> {
        let group = group_of(i.log_group_name.as_deref(), i.log_group_identifier.as_deref())?;
        let prefix = i.log_stream_name_prefix.as_deref().unwrap_or("");
        let mut streams = Vec::new();
        for (stream, row) in self.streams(&group)? {
            if !stream.starts_with(prefix) {
                continue;
            }
            let created = (row.submitted * 1000.0) as i64;
            let last = logs::before(&self.log_file(&stream)?, None, 1)
                .ok()
                .and_then(|(_, e)| e.last().map(|e| e.timestamp as i64));
            streams.push(cw::LogStream {
                log_stream_name: Some(stream.clone()),
                creation_time: Some(created),
                arn: Some(format!(
                    "arn:aws:logs:{}:{}:log-group:{group}:log-stream:{stream}",
                    self.region, self.account
                )),
                first_event_timestamp: last.map(|_| created),
                last_event_timestamp: last,
                last_ingestion_time: last,
                ..Default::default()
            });
        }
        if i.descending == Some(true) {
            streams.reverse();
        }
        let limit = i.limit.unwrap_or(50).clamp(1, 50) as usize;
        let from = match i.next_token.as_deref() {
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|f| *f <= streams.len())
                .ok_or_else(|| invalid("The specified nextToken is invalid."))?,
            None => 0,
        };
        let end = (from + limit).min(streams.len());
        let next_token = (end < streams.len()).then(|| end.to_string());
        Ok(cw::DescribeLogStreamsResponse { log_streams: Some(streams[from..end].to_vec()), next_token })
    }
}

/// FilterLogEvents' token: how far each stream was read (`stream=offset,…`).
fn token(offsets: &BTreeMap<String, u64>) -> String {
    offsets.iter().map(|(s, o)| format!("{s}={o}")).collect::<Vec<_>>().join(",")
}

fn read_token(t: &str) -> Option<BTreeMap<String, u64>> {
    t.split(',')
        .map(|pair| pair.split_once('=').and_then(|(s, o)| Some((s.to_string(), o.parse().ok()?))))
        .collect()
}

/// CloudWatch's simple filter pattern: terms that must all appear; `"quoted phrases"` keep
/// their spaces. (JSON and space-delimited patterns are not supported.)
pub fn pattern_terms(pattern: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = pattern.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (term, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            terms.push(term.to_string());
            rest = after.trim_start();
        } else {
            let (term, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            terms.push(term.to_string());
            rest = after.trim_start();
        }
    }
    terms.retain(|t| !t.is_empty());
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_groups() {
        assert_eq!(pattern_terms(r#"ERROR "exit status" 2"#), ["ERROR", "exit status", "2"]);
        assert!(pattern_terms("  ").is_empty());
        assert_eq!(
            group_of(None, Some("arn:aws:logs:us-east-1:1:log-group:/aws/codebuild/p:*")).unwrap(),
            "/aws/codebuild/p"
        );
        assert!(group_of(None, None).is_err());
        let offsets: BTreeMap<String, u64> = [("a".to_string(), 3), ("b".to_string(), 0)].into();
        assert_eq!(read_token(&token(&offsets)), Some(offsets));
        assert_eq!(read_token("a=x"), None);
    }
}
