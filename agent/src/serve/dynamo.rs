//! The [`Store`] on DynamoDB, for many machines: one table (`pk`, `sk`), four indexes
//! (`byProject`: a project's builds by number; `all`: everything of a kind by time; and two
//! sparse ones that hold only what the reaper reads: `queued`, builds no worker has claimed,
//! and `leases`, claimed builds by lease expiry), atomic per-project counters, and builds that
//! carry a lease: `attempt` (the fencing token), `owner` and `leaseUntil`. A worker claims a
//! QUEUED build with a conditional write, renews the lease with another, and every write it
//! makes about the build (log chunks included) is conditional on owner + attempt, so a worker
//! that lost its lease can write nothing. Running-build counters (per project, and for the
//! fleet) change in the same transactions as the claim and the end, so limits hold however
//! many workers race.
//!
//! The trait is synchronous (the SQLite store is); calls run on a small runtime of the store's
//! own, from any thread, inside another runtime or not.

use std::collections::HashMap;
use std::future::Future;

use super::store::{
    BatchRow, BuildRow, ExecutionRow, PipelineRow, Store, StoreError, from_text, now_s, to_text,
};
use crate::shapes::codebuild as cb;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, TransactWriteItem, Update,
};

pub struct DynamoStore {
    client: Client,
    table: String,
    runtime: tokio::runtime::Runtime,
}

/// Why a fenced write did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum Fence {
    /// Another claim or the reaper took the build: this worker must stop it and write nothing.
    Lost,
}

/// What a claim got.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This worker holds the build now, under this attempt (the fencing token).
    Won(u64),
    /// Another worker has it, or it ended (a duplicate message).
    Taken,
    /// Its project or the fleet runs as many builds as allowed: try again later.
    Throttled,
}

/// Who holds a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub owner: String,
    pub attempt: u64,
    /// Epoch seconds.
    pub until: f64,
}

/// A heartbeat's answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Beat {
    /// StopBuild was asked for, on any server.
    pub stop_requested: bool,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn num(item: &Item, key: &str) -> Option<f64> {
    item.get(key).and_then(|v| v.as_n().ok()).and_then(|t| t.parse().ok())
}

fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Remote(e.to_string())
}

fn sdk<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Remote(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
}

/// DynamoDB refused a conditional write (the condition did not hold).
fn refused<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

fn build_row(item: &Item) -> Result<BuildRow, StoreError> {
    Ok(BuildRow {
        id: text(item, "id").unwrap_or_default(),
        project: text(item, "project").unwrap_or_default(),
        number: num(item, "number").unwrap_or(0.0) as u64,
        status: text(item, "status").unwrap_or_default(),
        build: from_text(&text(item, "json").unwrap_or_else(|| "{}".into()))?,
        request: from_text(&text(item, "request").unwrap_or_else(|| "null".into()))?,
        submitted: num(item, "submitted").unwrap_or(0.0),
    })
}

fn batch_row(item: &Item) -> Result<BatchRow, StoreError> {
    let batch: cb::BuildBatch = from_text(&text(item, "json").unwrap_or_else(|| "{}".into()))?;
    Ok(BatchRow {
        arn: batch.arn.clone().unwrap_or_default(),
        id: text(item, "id").unwrap_or_default(),
        project: text(item, "project").unwrap_or_default(),
        number: num(item, "number").unwrap_or(0.0) as u64,
        status: text(item, "status").unwrap_or_default(),
        batch,
        request: from_text(&text(item, "request").unwrap_or_else(|| "null".into()))?,
        submitted: num(item, "submitted").unwrap_or(0.0),
    })
}

/// The condition of a status write, and what else it removes.
struct Guard {
    /// Appended to the `SET` expression (` REMOVE qpk`).
    remove: &'static str,
    condition: &'static str,
    names: &'static [(&'static str, &'static str)],
    values: Vec<(&'static str, AttributeValue)>,
}

impl Guard {
    /// The item exists: a plain update.
    fn exists() -> Guard {
        Guard { remove: "", condition: "attribute_exists(pk)", names: &[], values: Vec::new() }
    }
}

/// `stopRequested` of an item.
fn stop_requested(item: &Item) -> bool {
    item.get("stopRequested").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

impl DynamoStore {
    /// Connects (the standard credential chain and `AWS_ENDPOINT_URL`) and creates the table
    /// when it does not exist.
    pub fn open(table: &str, region: &str) -> Result<DynamoStore, StoreError> {
        let runtime = DynamoStore::runtime()?;
        let config = super::block_on_own(&runtime, crate::aws::sdk_config(region, None));
        DynamoStore::with_client(Client::new(&config), table, runtime)
    }

    /// With a client made elsewhere (tests point one at moto).
    pub fn with_client(
        client: Client,
        table: &str,
        runtime: tokio::runtime::Runtime,
    ) -> Result<DynamoStore, StoreError> {
        let store = DynamoStore { client, table: table.to_string(), runtime };
        store.create_table()?;
        Ok(store)
    }

    /// The store's own runtime for its calls.
    pub fn runtime() -> Result<tokio::runtime::Runtime, StoreError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dynamodb")
            .enable_all()
            .build()
            .map_err(db)
    }

    fn run<F: Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        super::block_on_own(&self.runtime, f)
    }

    /// Sets an item's `status` and `json` when `guard`'s condition holds; `Ok(false)` when it
    /// does not (the item is gone, or someone else owns the build).
    fn set_status(
        &self,
        pk: &str,
        sk: &str,
        status: &str,
        json: String,
        guard: Guard,
    ) -> Result<bool, StoreError> {
        let mut names = vec![("#st", "status"), ("#j", "json")];
        names.extend_from_slice(guard.names);
        let mut values = vec![(":s", s(status)), (":j", s(json))];
        values.extend(guard.values);
        let expression = format!("SET #st = :s, #j = :j{}", guard.remove);
        let updated =
            self.update_one((pk, sk), &expression, guard.condition, &names, values, ReturnValue::None)?;
        Ok(updated.is_some())
    }

    /// One update, alone, of the item `key` (pk, sk): `None` when `condition` did not hold,
    /// else what `returning` asks for (the whole item with ALL_NEW, nothing with NONE).
    fn update_one(
        &self,
        key: (&str, &str),
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
        returning: ReturnValue,
    ) -> Result<Option<Item>, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key.0))
            .key("sk", s(key.1))
            .update_expression(expression)
            .condition_expression(condition)
            .return_values(returning);
        for (name, attribute) in names {
            update = update.expression_attribute_names(*name, *attribute);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        match self.run(update.send()) {
            Ok(out) => Ok(Some(out.attributes().cloned().unwrap_or_default())),
            Err(e) if refused(&e) => Ok(None),
            Err(e) => Err(sdk(e)),
        }
    }

    fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(db)
        };
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(t).build().map_err(db)
        };
        let index = |name: &str, hash: &str, range: &str| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(db)
        };
        let exists = self.run(self.client.describe_table().table_name(&self.table).send());
        if exists.is_ok() {
            return Ok(());
        }
        let created = self.run(
            self.client
                .create_table()
                .table_name(&self.table)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key("pk", KeyType::Hash)?)
                .key_schema(key("sk", KeyType::Range)?)
                .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
                .attribute_definitions(attr("sk", ScalarAttributeType::S)?)
                .attribute_definitions(attr("gpk", ScalarAttributeType::S)?)
                .attribute_definitions(attr("gsk", ScalarAttributeType::N)?)
                .attribute_definitions(attr("apk", ScalarAttributeType::S)?)
                .attribute_definitions(attr("ask", ScalarAttributeType::N)?)
                .attribute_definitions(attr("qpk", ScalarAttributeType::S)?)
                .attribute_definitions(attr("rpk", ScalarAttributeType::S)?)
                .attribute_definitions(attr("leaseUntil", ScalarAttributeType::N)?)
                .global_secondary_indexes(index("byProject", "gpk", "gsk")?)
                .global_secondary_indexes(index("all", "apk", "ask")?)
                .global_secondary_indexes(index("queued", "qpk", "ask")?)
                .global_secondary_indexes(index("leases", "rpk", "leaseUntil")?)
                .send(),
        );
        match created {
            Ok(_) => Ok(()),
            // Another server made it at the same time.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(sdk(e)),
        }
    }

    fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .run(
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .consistent_read(true)
                    .send(),
            )
            .map_err(sdk)?;
        Ok(out.item().cloned())
    }

    /// Deletes an item; whether it was there.
    fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .run(
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .return_values(ReturnValue::AllOld)
                    .send(),
            )
            .map_err(sdk)?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    /// The id an idempotency token named within the window, if any.
    fn token(&self, key: &str, token_window_s: f64) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(key, "T")?
            .filter(|seen| num(seen, "submitted").is_some_and(|at| at >= now_s() - token_window_s))
            .and_then(|seen| text(&seen, "id")))
    }

    /// Remembers which id an idempotency token made.
    fn remember_token(&self, key: &str, id: &str, submitted: f64) -> Result<(), StoreError> {
        self.run(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(key))
                .item("sk", s("T"))
                .item("id", s(id))
                .item("submitted", n(submitted))
                .send(),
        )
        .map_err(sdk)?;
        Ok(())
    }

    /// Every item of an index partition, in key order.
    fn query(&self, index: &str, hash: &str, value: &str, ascending: bool) -> Result<Vec<Item>, StoreError> {
        self.query_where(Some(index), &format!("{hash} = :v"), vec![(":v", s(value))], ascending)
    }

    /// The items of an index that `condition` (a key condition) selects, in key order.
    fn query_where(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        ascending: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let values: HashMap<String, AttributeValue> =
            values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .run(
                    self.client
                        .query()
                        .table_name(&self.table)
                        .set_index_name(index.map(str::to_string))
                        .key_condition_expression(condition)
                        .set_expression_attribute_values(Some(values.clone()))
                        .scan_index_forward(ascending)
                        .set_exclusive_start_key(start.take())
                        .send(),
                )
                .map_err(sdk)?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    fn next_number(&self, counter: &str) -> Result<u64, StoreError> {
        let out = self
            .run(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(format!("C#{counter}")))
                    .key("sk", s("C"))
                    .update_expression("ADD n :one")
                    .expression_attribute_values(":one", n(1))
                    .return_values(ReturnValue::UpdatedNew)
                    .send(),
            )
            .map_err(sdk)?;
        Ok(out.attributes().and_then(|a| num(a, "n")).unwrap_or(1.0) as u64)
    }

    /// One update of a transaction.
    fn update(
        &self,
        pk: String,
        sk: &str,
        expression: &str,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut u = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string));
        for (k, v) in names {
            u = u.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            u = u.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder().update(u.build().map_err(db)?).build())
    }

    /// Writes all or nothing; `Some(i)`: nothing was written because the condition of write
    /// `i` did not hold.
    fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Option<usize>, StoreError> {
        let out = self.run(self.client.transact_write_items().set_transact_items(Some(items)).send());
        match out {
            Ok(_) => Ok(None),
            Err(e) => {
                let failed = e.as_service_error().and_then(|se| match se {
                    TransactWriteItemsError::TransactionCanceledException(c) => c
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed")),
                    _ => None,
                });
                match failed {
                    Some(i) => Ok(Some(i)),
                    None => Err(sdk(e)),
                }
            }
        }
    }

    /// The running-builds counters a build of `project` counts in: the project's and the
    /// fleet's. `limits` caps them (a claim); `delta` -1 releases.
    fn counters(
        &self,
        project: &str,
        delta: i64,
        limits: [Option<u64>; 2],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut out = Vec::new();
        for (key, limit) in [format!("R#{project}"), "R#*".to_string()].into_iter().zip(limits) {
            let mut values = vec![(":d", n(delta))];
            let condition = limit.map(|l| {
                values.push((":max", n(l)));
                "attribute_not_exists(running) OR running < :max"
            });
            out.push(self.update(key, "R", "ADD running :d", condition, &[], values)?);
        }
        Ok(out)
    }

    /// How many builds of `project` (`None`: of the fleet) are claimed and not ended.
    pub fn running(&self, project: Option<&str>) -> Result<u64, StoreError> {
        let key = format!("R#{}", project.unwrap_or("*"));
        Ok(self.get(&key, "R")?.and_then(|i| num(&i, "running")).unwrap_or(0.0).max(0.0) as u64)
    }

    /// The fleet-wide limit on running builds (`runspec serve --concurrency`), if one is set.
    pub fn fleet_limit(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.get("CFG", "CFG")?.and_then(|i| num(&i, "fleetLimit")).map(|l| l as u64))
    }

    pub fn set_fleet_limit(&self, limit: Option<u64>) -> Result<(), StoreError> {
        let mut put =
            self.client.put_item().table_name(&self.table).item("pk", s("CFG")).item("sk", s("CFG"));
        if let Some(l) = limit {
            put = put.item("fleetLimit", n(l));
        }
        self.run(put.send()).map_err(sdk)?;
        Ok(())
    }

    /// Claims a QUEUED build for `owner` with a lease of `lease_s` seconds, counting it
    /// against the project's and the fleet's running builds (at most `limits`).
    pub fn claim(
        &self,
        id: &str,
        owner: &str,
        lease_s: f64,
        limits: [Option<u64>; 2],
    ) -> Result<Claim, StoreError> {
        let project = id.split_once(':').map_or(id, |(p, _)| p);
        let mut items = vec![self.update(
            format!("B#{id}"),
            "B",
            "SET #o = :o, leaseUntil = :l, claimedAt = :now, rpk = :r ADD attempt :one REMOVE qpk",
            Some("attribute_exists(pk) AND #st = :ip AND attribute_not_exists(#o)"),
            &[("#o", "owner"), ("#st", "status")],
            vec![
                (":o", s(owner)),
                (":l", n(now_s() + lease_s)),
                (":now", n(now_s())),
                (":one", n(1)),
                (":ip", s("IN_PROGRESS")),
                (":r", s("R")),
            ],
        )?];
        items.extend(self.counters(project, 1, limits)?);
        match self.transact(items)? {
            None => {}
            Some(0) => return Ok(Claim::Taken),
            Some(_) => return Ok(Claim::Throttled),
        }
        // TransactWriteItems returns no attributes: the attempt it set is read back, with a
        // consistent read, from the item only this worker can now change.
        let attempt = self.lease(id)?.map_or(1, |l| l.attempt);
        Ok(Claim::Won(attempt))
    }

    /// Who holds a build, if anyone.
    pub fn lease(&self, id: &str) -> Result<Option<Lease>, StoreError> {
        Ok(self.get(&format!("B#{id}"), "B")?.and_then(|item| {
            Some(Lease {
                owner: text(&item, "owner")?,
                attempt: num(&item, "attempt").unwrap_or(0.0) as u64,
                until: num(&item, "leaseUntil").unwrap_or(0.0),
            })
        }))
    }

    /// Renews the lease, if this worker still holds it; says whether StopBuild was asked for.
    pub fn heartbeat(
        &self,
        id: &str,
        owner: &str,
        attempt: u64,
        lease_s: f64,
    ) -> Result<Result<Beat, Fence>, StoreError> {
        let renewed = self.update_one(
            (&format!("B#{id}"), "B"),
            "SET leaseUntil = :l",
            "#o = :o AND attempt = :a",
            &[("#o", "owner")],
            vec![(":o", s(owner)), (":a", n(attempt)), (":l", n(now_s() + lease_s))],
            ReturnValue::AllNew,
        )?;
        Ok(renewed.map(|item| Beat { stop_requested: stop_requested(&item) }).ok_or(Fence::Lost))
    }

    /// A write about a build by the worker that holds it: refused once the lease is lost. The
    /// write that ends the build also takes it off the running counts.
    pub fn update_build_as(
        &self,
        id: &str,
        owner: &str,
        attempt: u64,
        status: &str,
        build: &cb::Build,
    ) -> Result<Result<(), Fence>, StoreError> {
        let project = id.split_once(':').map_or(id, |(p, _)| p);
        let ends = status != "IN_PROGRESS";
        let mut items = vec![self.update(
            format!("B#{id}"),
            "B",
            if ends { "SET #st = :s, #j = :j REMOVE rpk" } else { "SET #st = :s, #j = :j" },
            Some("#o = :o AND attempt = :a AND #st = :ip"),
            &[("#st", "status"), ("#j", "json"), ("#o", "owner")],
            vec![
                (":s", s(status)),
                (":j", s(to_text(build))),
                (":o", s(owner)),
                (":a", n(attempt)),
                (":ip", s("IN_PROGRESS")),
            ],
        )?];
        if ends {
            items.extend(self.counters(project, -1, [None, None])?);
        }
        match self.transact(items)? {
            None => Ok(Ok(())),
            Some(_) => Ok(Err(Fence::Lost)),
        }
    }

    /// Appends chunk `seq` of a build's log file (`<ms>\t<line>` lines; a chunk may end
    /// inside a line, the next one goes on with it), as the worker that holds the build:
    /// refused once the lease is lost.
    pub fn append_log_as(
        &self,
        id: &str,
        owner: &str,
        attempt: u64,
        seq: u64,
        data: &[u8],
    ) -> Result<Result<(), Fence>, StoreError> {
        let uuid = crate::result::uuid_of(id);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(format!("B#{id}")))
            .key("sk", s("B"))
            .condition_expression("#o = :o AND attempt = :a")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":a", n(attempt))
            .build()
            .map_err(db)?;
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("L#{uuid}")))
            .item("sk", s(format!("{seq:012}")))
            .item("data", AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(data)))
            .build()
            .map_err(db)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items)? {
            None => Ok(Ok(())),
            Some(_) => Ok(Err(Fence::Lost)),
        }
    }

    /// The log chunks of a build after chunk `after` (`None`: all), in order: (seq, bytes).
    pub fn log_chunks(&self, uuid: &str, after: Option<u64>) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":p", s(format!("L#{uuid}")));
            q = match after {
                Some(a) => q
                    .key_condition_expression("pk = :p AND sk > :from")
                    .expression_attribute_values(":from", s(format!("{a:012}"))),
                None => q.key_condition_expression("pk = :p"),
            };
            let page = self
                .run(q.consistent_read(true).set_exclusive_start_key(start.take()).send())
                .map_err(sdk)?;
            for item in page.items() {
                let seq = text(item, "sk").and_then(|k| k.parse().ok()).unwrap_or(0);
                let data = item.get("data").and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec());
                out.push((seq, data.unwrap_or_default()));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// StopBuild from any server: the build's worker reads it in its next heartbeat.
    pub fn request_stop(&self, id: &str) -> Result<(), StoreError> {
        let asked = self.update_one(
            (&format!("B#{id}"), "B"),
            "SET stopRequested = :t",
            "attribute_exists(pk)",
            &[],
            vec![(":t", AttributeValue::Bool(true))],
            ReturnValue::None,
        )?;
        asked.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("Build {id} cannot be found")))
    }

    /// StopBuildBatch through a server that does not coordinate the batch: a flag its
    /// coordinator reads. `false` when the batch is not running.
    pub fn request_batch_stop(&self, id: &str) -> Result<bool, StoreError> {
        let asked = self.update_one(
            (&format!("BB#{id}"), "BB"),
            "SET stopRequested = :t",
            "#st = :ip",
            &[("#st", "status")],
            vec![(":t", AttributeValue::Bool(true)), (":ip", s("IN_PROGRESS"))],
            ReturnValue::None,
        )?;
        Ok(asked.is_some())
    }

    /// The coordinating server renews its hold on a running batch until `until`, and learns
    /// whether StopBuildBatch was asked for through any server. `None`: the batch is no
    /// longer running (the reaper ended it).
    pub fn batch_heartbeat(&self, id: &str, owner: &str, until: f64) -> Result<Option<bool>, StoreError> {
        let held = self.update_one(
            (&format!("BB#{id}"), "BB"),
            "SET coordinator = :o, coordinatorUntil = :u",
            "#st = :ip",
            &[("#st", "status")],
            vec![(":o", s(owner)), (":u", n(until)), (":ip", s("IN_PROGRESS"))],
            ReturnValue::AllNew,
        )?;
        Ok(held.map(|item| stop_requested(&item)))
    }

    /// Running batches whose coordinating server stopped renewing its hold, with the hold's
    /// end as last written (the reaper's condition) and who held it.
    pub fn expired_batches(&self) -> Result<Vec<(BatchRow, f64, String)>, StoreError> {
        let now = now_s();
        let mut out = Vec::new();
        for item in self.query("all", "apk", "ALLBB", true)? {
            if text(&item, "status").as_deref() != Some("IN_PROGRESS") {
                continue;
            }
            let Some(until) = num(&item, "coordinatorUntil").filter(|u| *u < now) else { continue };
            out.push((batch_row(&item)?, until, text(&item, "coordinator").unwrap_or_default()));
        }
        Ok(out)
    }

    /// The reaper's write for a batch whose coordinator was lost; `false` when the hold was
    /// renewed meanwhile or another reaper was first.
    pub fn reap_batch(&self, id: &str, until: f64, batch: &cb::BuildBatch) -> Result<bool, StoreError> {
        // The hold's end is compared as it was read: a renewal since then wins.
        let guard = Guard {
            remove: "",
            condition: "#st = :ip AND coordinatorUntil = :u",
            names: &[],
            values: vec![(":ip", s("IN_PROGRESS")), (":u", n(until))],
        };
        self.set_status(&format!("BB#{id}"), "BB", "FAULT", to_text(batch), guard)
    }

    /// The reaper's write: a build whose lease ran out is taken from its worker (the attempt
    /// moves on, so the lost worker's writes fail), recorded as `build` and taken off the
    /// running counts. `false` when its lease was renewed meanwhile or someone else reaped it.
    pub fn reap(&self, id: &str, attempt: u64, build: &cb::Build) -> Result<bool, StoreError> {
        let project = id.split_once(':').map_or(id, |(p, _)| p);
        let mut items = vec![self.update(
            format!("B#{id}"),
            "B",
            "SET #st = :s, #j = :j, attempt = :next REMOVE #o, rpk",
            Some("attempt = :a AND leaseUntil < :now AND #st = :ip"),
            &[("#st", "status"), ("#j", "json"), ("#o", "owner")],
            vec![
                (":s", s(build.build_status.as_deref().unwrap_or("FAULT"))),
                (":j", s(to_text(build))),
                (":a", n(attempt)),
                (":next", n(attempt + 1)),
                (":now", n(now_s())),
                (":ip", s("IN_PROGRESS")),
            ],
        )?];
        items.extend(self.counters(project, -1, [None, None])?);
        Ok(self.transact(items)?.is_none())
    }

    /// Running builds whose lease ran out: (row, lease). From the sparse index of claimed
    /// builds, so the reaper reads only those.
    pub fn expired(&self) -> Result<Vec<(BuildRow, Lease)>, StoreError> {
        let items = self.query_where(
            Some("leases"),
            "rpk = :r AND leaseUntil < :now",
            vec![(":r", s("R")), (":now", n(now_s()))],
            true,
        )?;
        let mut out = Vec::new();
        for item in items {
            let Some(owner) = text(&item, "owner") else { continue };
            let until = num(&item, "leaseUntil").unwrap_or(0.0);
            let attempt = num(&item, "attempt").unwrap_or(0.0) as u64;
            out.push((build_row(&item)?, Lease { owner, attempt, until }));
        }
        Ok(out)
    }

    /// Queued builds no worker holds, oldest first (the sparse index of queued builds).
    pub fn unclaimed(&self) -> Result<Vec<BuildRow>, StoreError> {
        self.query("queued", "qpk", "Q", true)?
            .iter()
            .filter(|i| text(i, "status").as_deref() == Some("IN_PROGRESS") && !i.contains_key("owner"))
            .map(build_row)
            .collect()
    }
}

impl Store for DynamoStore {
    fn create_project(&self, name: &str, project: &cb::Project) -> Result<(), StoreError> {
        let out = self.run(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("P#{name}")))
                .item("sk", s("P"))
                .item("apk", s("ALLP"))
                .item("ask", n(now_s()))
                .item("name", s(name))
                .item("json", s(to_text(project)))
                .condition_expression("attribute_not_exists(pk)")
                .send(),
        );
        match out {
            Ok(_) => Ok(()),
            Err(e) if refused(&e) => {
                Err(StoreError::AlreadyExists(format!("Project already exists: {name}")))
            }
            Err(e) => Err(sdk(e)),
        }
    }

    fn update_project(&self, name: &str, project: &cb::Project) -> Result<(), StoreError> {
        let updated = self.update_one(
            (&format!("P#{name}"), "P"),
            "SET #j = :j",
            "attribute_exists(pk)",
            &[("#j", "json")],
            vec![(":j", s(to_text(project)))],
            ReturnValue::None,
        )?;
        updated.map(|_| ()).ok_or_else(|| StoreError::NotFound(format!("Project cannot be found: {name}")))
    }

    fn project(&self, name: &str) -> Result<Option<cb::Project>, StoreError> {
        match self.get(&format!("P#{name}"), "P")? {
            Some(item) => Ok(Some(from_text(&text(&item, "json").unwrap_or_else(|| "{}".into()))?)),
            None => Ok(None),
        }
    }

    fn project_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> =
            self.query("all", "apk", "ALLP", true)?.iter().filter_map(|i| text(i, "name")).collect();
        names.sort();
        Ok(names)
    }

    fn delete_project(&self, name: &str) -> Result<bool, StoreError> {
        self.delete(&format!("P#{name}"), "P")
    }

    fn insert_build(
        &self,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> BuildRow,
    ) -> Result<(BuildRow, bool), StoreError> {
        let key = token.map(|t| format!("T#{project}#{t}"));
        if let Some(key) = &key
            && let Some(row) =
                self.token(key, token_window_s)?.map(|id| self.build(&id)).transpose()?.flatten()
        {
            return Ok((row, false));
        }
        let number = self.next_number(project)?;
        let b = make(number);
        self.run(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("B#{}", b.id)))
                .item("sk", s("B"))
                .item("gpk", s(format!("BP#{}", b.project)))
                .item("gsk", n(b.number))
                .item("apk", s("ALLB"))
                .item("ask", n(b.submitted))
                .item("id", s(&b.id))
                .item("project", s(&b.project))
                .item("number", n(b.number))
                .item("status", s(&b.status))
                .item("json", s(to_text(&b.build)))
                .item("request", s(to_text(&b.request)))
                .item("submitted", n(b.submitted))
                .item("attempt", n(0))
                .item("qpk", s("Q"))
                .condition_expression("attribute_not_exists(pk)")
                .send(),
        )
        .map_err(sdk)?;
        if let Some(key) = &key {
            self.remember_token(key, &b.id, b.submitted)?;
        }
        Ok((b, true))
    }

    fn update_build(&self, id: &str, status: &str, build: &cb::Build) -> Result<(), StoreError> {
        match self.set_status(&format!("B#{id}"), "B", status, to_text(build), Guard::exists())? {
            true => Ok(()),
            false => Err(StoreError::NotFound(format!("Build {id} cannot be found"))),
        }
    }

    fn end_unclaimed(&self, id: &str, status: &str, build: &cb::Build) -> Result<bool, StoreError> {
        let guard = Guard {
            remove: " REMOVE qpk",
            condition: "#st = :ip AND attribute_not_exists(#o)",
            names: &[("#o", "owner")],
            values: vec![(":ip", s("IN_PROGRESS"))],
        };
        self.set_status(&format!("B#{id}"), "B", status, to_text(build), guard)
    }

    fn build(&self, id: &str) -> Result<Option<BuildRow>, StoreError> {
        self.get(&format!("B#{id}"), "B")?.map(|i| build_row(&i)).transpose()
    }

    fn build_ids(&self, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError> {
        let items = match project {
            Some(p) => self.query("byProject", "gpk", &format!("BP#{p}"), ascending)?,
            None => self.query("all", "apk", "ALLB", ascending)?,
        };
        Ok(items.iter().filter_map(|i| text(i, "id")).collect())
    }

    fn unfinished(&self) -> Result<Vec<BuildRow>, StoreError> {
        self.query("all", "apk", "ALLB", true)?
            .iter()
            .filter(|i| text(i, "status").as_deref() == Some("IN_PROGRESS"))
            .map(build_row)
            .collect()
    }

    fn delete_build(&self, id: &str) -> Result<bool, StoreError> {
        let uuid = crate::result::uuid_of(id);
        for (seq, _) in self.log_chunks(uuid, None)? {
            self.delete(&format!("L#{uuid}"), &format!("{seq:012}"))?;
        }
        self.delete(&format!("B#{id}"), "B")
    }

    fn recent(&self, limit: usize) -> Result<Vec<BuildRow>, StoreError> {
        self.query("all", "apk", "ALLB", false)?.iter().take(limit).map(build_row).collect()
    }

    fn insert_batch(
        &self,
        project: &str,
        token: Option<&str>,
        token_window_s: f64,
        make: &mut dyn FnMut(u64) -> BatchRow,
    ) -> Result<(BatchRow, bool), StoreError> {
        let key = token.map(|t| format!("TB#{project}#{t}"));
        if let Some(key) = &key
            && let Some(row) =
                self.token(key, token_window_s)?.map(|id| self.batch(&id)).transpose()?.flatten()
        {
            return Ok((row, false));
        }
        let number = self.next_number(&format!("batch:{project}"))?;
        let b = make(number);
        self.run(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("BB#{}", b.id)))
                .item("sk", s("BB"))
                .item("gpk", s(format!("BBP#{}", b.project)))
                .item("gsk", n(b.number))
                .item("apk", s("ALLBB"))
                .item("ask", n(b.submitted))
                .item("id", s(&b.id))
                .item("project", s(&b.project))
                .item("number", n(b.number))
                .item("status", s(&b.status))
                .item("json", s(to_text(&b.batch)))
                .item("request", s(to_text(&b.request)))
                .item("submitted", n(b.submitted))
                .send(),
        )
        .map_err(sdk)?;
        if let Some(key) = &key {
            self.remember_token(key, &b.id, b.submitted)?;
        }
        Ok((b, true))
    }

    fn update_batch(&self, id: &str, status: &str, batch: &cb::BuildBatch) -> Result<(), StoreError> {
        match self.set_status(&format!("BB#{id}"), "BB", status, to_text(batch), Guard::exists())? {
            true => Ok(()),
            false => Err(StoreError::NotFound(format!("Batch {id} cannot be found"))),
        }
    }

    fn batch(&self, id: &str) -> Result<Option<BatchRow>, StoreError> {
        self.get(&format!("BB#{id}"), "BB")?.map(|i| batch_row(&i)).transpose()
    }

    fn batch_ids(&self, project: Option<&str>, ascending: bool) -> Result<Vec<String>, StoreError> {
        let items = match project {
            Some(p) => self.query("byProject", "gpk", &format!("BBP#{p}"), ascending)?,
            None => self.query("all", "apk", "ALLBB", ascending)?,
        };
        Ok(items.iter().filter_map(|i| text(i, "id")).collect())
    }

    fn unfinished_batches(&self) -> Result<Vec<BatchRow>, StoreError> {
        self.query("all", "apk", "ALLBB", true)?
            .iter()
            .filter(|i| text(i, "status").as_deref() == Some("IN_PROGRESS"))
            .map(batch_row)
            .collect()
    }

    fn delete_batch(&self, id: &str) -> Result<bool, StoreError> {
        self.delete(&format!("BB#{id}"), "BB")
    }

    fn create_pipeline(&self, row: &PipelineRow) -> Result<(), StoreError> {
        let name = &row.declaration.name;
        let out = self.run(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("L#{name}")))
                .item("sk", s("L"))
                .item("apk", s("ALLL"))
                .item("ask", n(row.created))
                .item("name", s(name))
                .item("json", s(to_text(row)))
                .condition_expression("attribute_not_exists(pk)")
                .send(),
        );
        match out {
            Ok(_) => Ok(()),
            Err(e) if refused(&e) => {
                Err(StoreError::AlreadyExists(format!("A pipeline with the name '{name}' already exists")))
            }
            Err(e) => Err(sdk(e)),
        }
    }

    fn update_pipeline(&self, row: &PipelineRow) -> Result<(), StoreError> {
        let name = &row.declaration.name;
        let updated = self.update_one(
            (&format!("L#{name}"), "L"),
            "SET #j = :j",
            "attribute_exists(pk)",
            &[("#j", "json")],
            vec![(":j", s(to_text(row)))],
            ReturnValue::None,
        )?;
        updated.map(|_| ()).ok_or_else(|| {
            StoreError::NotFound(format!("Account does not have a pipeline with name '{name}'"))
        })
    }

    fn pipeline(&self, name: &str) -> Result<Option<PipelineRow>, StoreError> {
        match self.get(&format!("L#{name}"), "L")? {
            Some(item) => Ok(Some(from_text(&text(&item, "json").unwrap_or_else(|| "{}".into()))?)),
            None => Ok(None),
        }
    }

    fn pipeline_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> =
            self.query("all", "apk", "ALLL", true)?.iter().filter_map(|i| text(i, "name")).collect();
        names.sort();
        Ok(names)
    }

    fn delete_pipeline(&self, name: &str) -> Result<bool, StoreError> {
        for e in self.executions(name)? {
            self.delete(&format!("L#{name}"), &format!("X#{}", e.id))?;
        }
        self.delete(&format!("L#{name}"), "L")
    }

    fn put_execution(&self, row: &ExecutionRow) -> Result<(), StoreError> {
        self.run(
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("L#{}", row.pipeline)))
                .item("sk", s(format!("X#{}", row.id)))
                .item("json", s(to_text(row)))
                .send(),
        )
        .map_err(sdk)?;
        Ok(())
    }

    fn execution(&self, pipeline: &str, id: &str) -> Result<Option<ExecutionRow>, StoreError> {
        match self.get(&format!("L#{pipeline}"), &format!("X#{id}"))? {
            Some(item) => Ok(Some(from_text(&text(&item, "json").unwrap_or_else(|| "{}".into()))?)),
            None => Ok(None),
        }
    }

    fn executions(&self, pipeline: &str) -> Result<Vec<ExecutionRow>, StoreError> {
        let items = self.query_where(
            None,
            "pk = :p AND begins_with(sk, :x)",
            vec![(":p", s(format!("L#{pipeline}"))), (":x", s("X#"))],
            true,
        )?;
        let mut rows = items
            .iter()
            .map(|i| from_text::<ExecutionRow>(&text(i, "json").unwrap_or_else(|| "{}".into())))
            .collect::<Result<Vec<_>, _>>()?;
        rows.sort_by(|a, b| b.started.total_cmp(&a.started));
        Ok(rows)
    }
}
