//! The logs API's shapes (Logs_20140328), as botocore's model defines
//! them: one struct per structure shape the server reaches, members in the model's order.
//! Required members are plain values (the model check requires them in requests; read
//! elsewhere they default); every other is optional and left out when absent.
//! Enums are strings (checked against the model where they come in).
//!
//! Written by `scripts/wire_model.py` from botocore's model; do not edit.

use serde::{Deserialize, Serialize};

/// `DescribeLogStreamsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescribeLogStreamsRequest {
    #[serde(rename = "logGroupName", default, skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    #[serde(rename = "logGroupIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub log_group_identifier: Option<String>,
    #[serde(rename = "logStreamNamePrefix", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name_prefix: Option<String>,
    #[serde(rename = "orderBy", default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    #[serde(rename = "descending", default, skip_serializing_if = "Option::is_none")]
    pub descending: Option<bool>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "limit", default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `DescribeLogStreamsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescribeLogStreamsResponse {
    #[serde(rename = "logStreams", default, skip_serializing_if = "Option::is_none")]
    pub log_streams: Option<Vec<LogStream>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `FilterLogEventsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterLogEventsRequest {
    #[serde(rename = "logGroupName", default, skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    #[serde(rename = "logGroupIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub log_group_identifier: Option<String>,
    #[serde(rename = "logStreamNames", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_names: Option<Vec<String>>,
    #[serde(rename = "logStreamNamePrefix", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name_prefix: Option<String>,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(rename = "filterPattern", default, skip_serializing_if = "Option::is_none")]
    pub filter_pattern: Option<String>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "limit", default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(rename = "startFromHead", default, skip_serializing_if = "Option::is_none")]
    pub start_from_head: Option<bool>,
    #[serde(rename = "interleaved", default, skip_serializing_if = "Option::is_none")]
    pub interleaved: Option<bool>,
    #[serde(rename = "unmask", default, skip_serializing_if = "Option::is_none")]
    pub unmask: Option<bool>,
}

/// `FilterLogEventsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterLogEventsResponse {
    #[serde(rename = "events", default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<FilteredLogEvent>>,
    #[serde(rename = "searchedLogStreams", default, skip_serializing_if = "Option::is_none")]
    pub searched_log_streams: Option<Vec<SearchedLogStream>>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `FilteredLogEvent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilteredLogEvent {
    #[serde(rename = "logStreamName", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,
    #[serde(rename = "timestamp", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "ingestionTime", default, skip_serializing_if = "Option::is_none")]
    pub ingestion_time: Option<i64>,
    #[serde(rename = "eventId", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `GetLogEventsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetLogEventsRequest {
    #[serde(rename = "logGroupName", default, skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    #[serde(rename = "logGroupIdentifier", default, skip_serializing_if = "Option::is_none")]
    pub log_group_identifier: Option<String>,
    #[serde(rename = "logStreamName", default)]
    pub log_stream_name: String,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    #[serde(rename = "nextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    #[serde(rename = "limit", default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(rename = "startFromHead", default, skip_serializing_if = "Option::is_none")]
    pub start_from_head: Option<bool>,
    #[serde(rename = "unmask", default, skip_serializing_if = "Option::is_none")]
    pub unmask: Option<bool>,
}

/// `GetLogEventsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetLogEventsResponse {
    #[serde(rename = "events", default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<OutputLogEvent>>,
    #[serde(rename = "nextForwardToken", default, skip_serializing_if = "Option::is_none")]
    pub next_forward_token: Option<String>,
    #[serde(rename = "nextBackwardToken", default, skip_serializing_if = "Option::is_none")]
    pub next_backward_token: Option<String>,
}

/// `LogStream`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogStream {
    #[serde(rename = "logStreamName", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,
    #[serde(rename = "creationTime", default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    #[serde(rename = "firstEventTimestamp", default, skip_serializing_if = "Option::is_none")]
    pub first_event_timestamp: Option<i64>,
    #[serde(rename = "lastEventTimestamp", default, skip_serializing_if = "Option::is_none")]
    pub last_event_timestamp: Option<i64>,
    #[serde(rename = "lastIngestionTime", default, skip_serializing_if = "Option::is_none")]
    pub last_ingestion_time: Option<i64>,
    #[serde(rename = "uploadSequenceToken", default, skip_serializing_if = "Option::is_none")]
    pub upload_sequence_token: Option<String>,
    #[serde(rename = "arn", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "storedBytes", default, skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<i64>,
}

/// `OutputLogEvent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputLogEvent {
    #[serde(rename = "timestamp", default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "ingestionTime", default, skip_serializing_if = "Option::is_none")]
    pub ingestion_time: Option<i64>,
}

/// `SearchedLogStream`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchedLogStream {
    #[serde(rename = "logStreamName", default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,
    #[serde(rename = "searchedCompletely", default, skip_serializing_if = "Option::is_none")]
    pub searched_completely: Option<bool>,
}
