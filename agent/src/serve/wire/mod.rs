//! The wire: what `runspec serve` accepts and answers, in AWS's shapes. [`model`] is the slice
//! of botocore's models the server implements and the check of every request against it.

pub mod model;

use serde_json::Value;

use super::api::ApiError;

/// Which model a target (`X-Amz-Target`) belongs to, and its operation name.
pub fn operation(target: &str) -> Option<(&'static model::Model, &str)> {
    for m in [&*model::CODEBUILD, &*model::LOGS] {
        if let Some(op) = target.strip_prefix(&m.target_prefix).and_then(|t| t.strip_prefix('.'))
            && m.operations.contains_key(op)
        {
            return Some((m, op));
        }
    }
    None
}

/// Checks a request body against its operation's input shape, answering as the service would:
/// `SerializationException` for a value of the wrong type, CodeBuild's `InvalidInputException`
/// or CloudWatch Logs' `InvalidParameterException` for broken constraints.
pub fn check(target: &str, body: &Value) -> Result<(), ApiError> {
    let Some((m, op)) = operation(target) else { return Ok(()) };
    m.check(op, body).map_err(|e| match e {
        model::Invalid::Serialization(message) => {
            ApiError { status: 400, kind: "SerializationException", message }
        }
        model::Invalid::Constraints(message) => ApiError {
            status: 400,
            kind: if m.service == "logs" { "InvalidParameterException" } else { "InvalidInputException" },
            message,
        },
    })
}
