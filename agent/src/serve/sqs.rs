//! The work queue for many machines: an SQS queue whose messages only wake workers (the build's
//! id). The lease lives in the store, not in the message's visibility (SQS stops at 12 hours;
//! builds may run 36). A message no worker can use goes to a dead-letter queue after a few
//! receives (its redrive policy).

use std::future::Future;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

use super::store::StoreError;

/// After this many receives without a delete, a message goes to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

pub struct Queue {
    client: Client,
    pub url: String,
    runtime: tokio::runtime::Runtime,
}

/// One received message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The build id, when the body is one (`{"id": "…"}`).
    pub build: Option<String>,
    pub receipt: String,
    pub body: String,
}

fn remote<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Remote(e.to_string())
}

fn sdk<E, R>(e: aws_sdk_sqs::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Remote(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
}

impl Queue {
    /// The queue named `name` with its dead-letter queue `<name>-dlq`, made when missing.
    pub fn ensure(client: Client, name: &str) -> Result<Queue, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sqs")
            .enable_all()
            .build()
            .map_err(remote)?;
        let mut q = Queue { client, url: String::new(), runtime };
        let dlq = q.run(q.client.create_queue().queue_name(format!("{name}-dlq")).send()).map_err(sdk)?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_string();
        let attrs = q
            .run(
                q.client
                    .get_queue_attributes()
                    .queue_url(&dlq_url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send(),
            )
            .map_err(sdk)?;
        let dlq_arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let policy =
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string()})
                .to_string();
        let main = q
            .run(
                q.client
                    .create_queue()
                    .queue_name(name)
                    .attributes(QueueAttributeName::RedrivePolicy, policy)
                    .send(),
            )
            .map_err(sdk)?;
        q.url = main.queue_url().unwrap_or_default().to_string();
        Ok(q)
    }

    fn run<F: Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        super::block_on_own(&self.runtime, f)
    }

    /// The URL of the dead-letter queue.
    pub fn dead_letters(&self) -> Result<String, StoreError> {
        let name = self.url.rsplit('/').next().unwrap_or_default();
        let out =
            self.run(self.client.get_queue_url().queue_name(format!("{name}-dlq")).send()).map_err(sdk)?;
        Ok(out.queue_url().unwrap_or_default().to_string())
    }

    /// Wakes a worker for a queued build.
    pub fn send(&self, build_id: &str) -> Result<(), StoreError> {
        let body = serde_json::json!({"id": build_id}).to_string();
        self.run(self.client.send_message().queue_url(&self.url).message_body(body).send()).map_err(sdk)?;
        Ok(())
    }

    /// Long-polls for up to `wait_s` seconds; a received message is hidden for `hide_s`.
    pub fn receive(&self, url: &str, wait_s: i32, hide_s: i32) -> Result<Vec<Message>, StoreError> {
        let out = self
            .run(
                self.client
                    .receive_message()
                    .queue_url(url)
                    .wait_time_seconds(wait_s)
                    .visibility_timeout(hide_s)
                    .max_number_of_messages(1)
                    .send(),
            )
            .map_err(sdk)?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let body = m.body().unwrap_or_default().to_string();
                let build = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_string))
                    .filter(|id| id.contains(':'));
                Message { build, receipt: m.receipt_handle().unwrap_or_default().to_string(), body }
            })
            .collect())
    }

    pub fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        self.run(self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send())
            .map_err(sdk)?;
        Ok(())
    }

    /// Leaves a received message on the queue, to be received again in `after_s` seconds
    /// (a build that must wait for a free slot; a message no worker can use, which reaches
    /// the dead-letter queue after [`MAX_RECEIVES`] receives).
    pub fn retry_later(&self, receipt: &str, after_s: i32) -> Result<(), StoreError> {
        self.run(
            self.client
                .change_message_visibility()
                .queue_url(&self.url)
                .receipt_handle(receipt)
                .visibility_timeout(after_s)
                .send(),
        )
        .map_err(sdk)?;
        Ok(())
    }

    /// Sends a raw body (tests send poison messages with it).
    pub fn send_raw(&self, body: &str) -> Result<(), StoreError> {
        self.run(self.client.send_message().queue_url(&self.url).message_body(body).send()).map_err(sdk)?;
        Ok(())
    }
}
