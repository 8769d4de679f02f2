//! The ECS standard deploy action, by `--deploy` mode. Its input is `imagedefinitions.json`
//! (`FileName`) in the input artifact ([`super::ecs`]).
//!
//! - `aws`: as CodePipeline does it, through the ECS API (`AWS_ENDPOINT_URL` honoured): the
//!   service's task definition gets a new revision with the new images, and the service is
//!   updated to it.
//! - `local`: the service's task definition (`--task-definition SERVICE=FILE`) runs on the local
//!   Docker engine with the new images, replacing the previous local deployment of the service:
//!   its containers in one network namespace (what `awsvpc` gives a task: they reach each other
//!   on localhost) on a network of the service's own (a task's own interface), in `dependsOn`
//!   order, with their environment, command and the port mappings published on 127.0.0.1.
//! - `skip`: the file is checked (against the task definition's container names when one is
//!   given), and nothing is deployed.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use serde_json::Value;

use super::ecs::{self, ImageDefinition};
use super::runner::Deploy;

/// What a deploy action gets from the runner.
pub struct Request<'a> {
    /// The action's configuration, resolved.
    pub config: &'a std::collections::BTreeMap<String, String>,
    /// Input artifacts: name, directory, source commit.
    pub inputs: &'a [(String, std::path::PathBuf, Option<String>)],
    pub mode: Deploy,
    pub task_definitions: &'a std::collections::BTreeMap<String, std::path::PathBuf>,
    /// The execution's directory in the artifact store (`--deploy local` writes S3 deploys
    /// under its `s3/`).
    pub store: &'a std::path::Path,
    /// A line for the action's log.
    pub line: &'a dyn Fn(&str),
}

impl Request<'_> {
    /// A file of an input artifact, read beneath it.
    fn file(&self, artifact: &str, path: &str) -> Result<String, String> {
        let (_, dir, _) = self
            .inputs
            .iter()
            .find(|(n, ..)| n == artifact)
            .ok_or_else(|| format!("{artifact} is not an input artifact of the action"))?;
        crate::build::read_source_file(dir, path)
            .map_err(|e| format!("cannot read {path} in {artifact}: {e}"))
    }
}

/// The label of a locally deployed service's containers: `<cluster>/<service>`.
pub const SERVICE_LABEL: &str = "runspec.ecs.service";

/// The default `FileName`.
const DEFAULT_FILE: &str = "imagedefinitions.json";

/// Deploys; `Ok` is the action's summary, `Err` why it failed.
pub async fn ecs(d: &Request<'_>) -> Result<String, String> {
    let setting = |k: &str| d.config.get(k).cloned().unwrap_or_default();
    let (cluster, service) = (setting("ClusterName"), setting("ServiceName"));
    let file = d.config.get("FileName").cloned().unwrap_or_else(|| DEFAULT_FILE.to_string());
    let [(artifact, dir, _)] = d.inputs else {
        return Err(format!("an ECS deploy action has one input artifact; this one has {}", d.inputs.len()));
    };
    let text = crate::build::read_source_file(dir, &file)
        .map_err(|e| format!("cannot read {file} in the input artifact {artifact}: {e}"))?;
    let images = ecs::image_definitions(&file, text.as_bytes())?;
    for i in &images {
        (d.line)(&format!("{file}: {} → {}", i.name, i.image_uri));
    }
    let task_definition = match d.task_definitions.get(&service) {
        Some(path) => Some(read_task_definition(path)?),
        None => None,
    };
    match d.mode {
        Deploy::Skip => {
            if let Some(td) = &task_definition {
                ecs::with_images(&containers(td), &images)?;
            }
            Ok(format!(
                "not deployed (--deploy skip): {file} names {} container(s){}",
                images.len(),
                if task_definition.is_some() { ", all in the task definition" } else { "" }
            ))
        }
        Deploy::Local => {
            let td = task_definition.ok_or_else(|| {
                format!(
                    "--deploy local runs the service's task definition: pass --task-definition {service}=FILE (what `aws ecs describe-task-definition` prints, or the register-task-definition input)"
                )
            })?;
            let containers = ecs::with_images(&containers(&td), &images)?;
            run_locally(&cluster, &service, &containers, d.line).await
        }
        Deploy::Aws => deploy_aws(&cluster, &service, &images, d.line).await,
    }
}

/// The Amazon ECS blue/green action (CodeDeployToECS): its task definition template with the
/// images of its `imageDetail.json` artifacts and its AppSpec are checked; `--deploy local`
/// then runs the task definition like the standard action (a service named
/// `<ApplicationName>/<DeploymentGroupName>`). A CodeDeploy deployment needs AWS's CodeDeploy,
/// which runspec does not drive: `--deploy aws` fails, saying so.
pub async fn blue_green(d: &Request<'_>) -> Result<String, String> {
    let setting = |k: &str, default: &str| {
        d.config.get(k).cloned().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
    };
    let artifact_file = |artifact: &str, path: &str| d.file(artifact, path);
    let td_text = artifact_file(
        &setting("TaskDefinitionTemplateArtifact", ""),
        &setting("TaskDefinitionTemplatePath", "taskdef.json"),
    )?;
    let appspec_text = artifact_file(
        &setting("AppSpecTemplateArtifact", ""),
        &setting("AppSpecTemplatePath", "appspec.yaml"),
    )?;
    let mut images = Vec::new();
    for n in 1..=4 {
        let Some(artifact) = d.config.get(&format!("Image{n}ArtifactName")) else { continue };
        let placeholder = setting(&format!("Image{n}ContainerName"), &format!("IMAGE{n}_NAME"));
        let uri =
            ecs::image_uri("imageDetail.json", artifact_file(artifact, "imageDetail.json")?.as_bytes())?;
        (d.line)(&format!("<{placeholder}> → {uri}"));
        images.push((placeholder, uri));
    }
    let td = ecs::render_task_definition(&td_text, &images)?;
    let appspec = match crate::buildspec::yaml::parse(&appspec_text) {
        Ok(Some(node)) => node.to_json(),
        Ok(None) => return Err("the AppSpec is empty".into()),
        Err(e) => return Err(format!("the AppSpec is not YAML (line {}): {}", e.line, e.message)),
    };
    ecs::check_appspec(&appspec, &td)?;
    let (application, group) = (setting("ApplicationName", ""), setting("DeploymentGroupName", ""));
    match d.mode {
        Deploy::Skip => Ok(format!(
            "not deployed (--deploy skip): the task definition and AppSpec of {application}/{group} were checked"
        )),
        Deploy::Local => run_locally(&application, &group, &containers(&td), d.line).await,
        Deploy::Aws => Err(format!(
            "the task definition and AppSpec of {application}/{group} were checked; a CodeDeploy blue/green deployment is not run by runspec (use --deploy local or skip)"
        )),
    }
}

/// What a CloudFormation action left: its summary and the stack's outputs (its variables).
pub struct Deployed {
    pub summary: String,
    pub variables: std::collections::BTreeMap<String, String>,
}

/// The CloudFormation action. The template (and template configuration, and the files
/// `Fn::GetParam` reads) come from the input artifacts and are checked in every mode; with
/// `--deploy aws` the stack is created, updated, replaced or deleted, or a change set made or
/// executed, through the CloudFormation API (`AWS_ENDPOINT_URL` honoured), waited for, and its
/// outputs become the action's variables (and `OutputFileName` in the output artifact).
pub async fn cloudformation(d: &Request<'_>, output: Option<&str>) -> Result<Deployed, String> {
    use super::cloudformation::{Mode, parameters, plan};
    let plan = plan(d.config)?;
    let file = |artifact: &str, path: &str| d.file(artifact, path);
    let template = match &plan.template {
        Some((artifact, path)) => {
            let text = file(artifact, path)?;
            match crate::buildspec::yaml::parse(&text) {
                Ok(Some(_)) => Some(text),
                Ok(None) => return Err(format!("the template {artifact}::{path} is empty")),
                Err(e) => {
                    return Err(format!(
                        "the template {artifact}::{path}:{}: not JSON or YAML: {}",
                        e.line, e.message
                    ));
                }
            }
        }
        None => None,
    };
    let configuration = match &plan.template_configuration {
        Some((artifact, path)) => Some(
            serde_json::from_str::<serde_json::Value>(&file(artifact, path)?)
                .map_err(|e| format!("the template configuration {artifact}::{path} is not JSON: {e}"))?,
        ),
        None => None,
    };
    let read = |artifact: &str, path: &str| -> Result<serde_json::Value, String> {
        serde_json::from_str(&file(artifact, path)?)
            .map_err(|e| format!("{artifact}::{path} is not JSON: {e}"))
    };
    let attribute = |artifact: &str, att: &str| -> Result<String, String> {
        Err(format!(
            "Fn::GetArtifactAtt {artifact} {att}: artifacts are directories on this machine, not S3 objects; give the value in ParameterOverrides"
        ))
    };
    let params = parameters(configuration.as_ref(), plan.overrides.as_ref(), &read, &attribute)?;
    if d.mode != Deploy::Aws {
        return Ok(Deployed {
            summary: format!(
                "not deployed (--deploy {}): the stack {}'s template and {} parameter(s) were checked; its outputs are not set (give them with --variable NAMESPACE.NAME=VALUE)",
                if d.mode == Deploy::Skip { "skip" } else { "local" },
                plan.stack,
                params.len()
            ),
            variables: Default::default(),
        });
    }
    let region = crate::aws::region_or_env(None);
    let client = aws_sdk_cloudformation::Client::new(&crate::aws::sdk_config(&region, None).await);
    let stack = plan.stack.as_str();
    let cfn_params: Vec<aws_sdk_cloudformation::types::Parameter> = params
        .iter()
        .map(|(k, v)| {
            aws_sdk_cloudformation::types::Parameter::builder().parameter_key(k).parameter_value(v).build()
        })
        .collect();
    let capabilities: Vec<aws_sdk_cloudformation::types::Capability> = plan
        .capabilities
        .iter()
        .map(|c| aws_sdk_cloudformation::types::Capability::from(c.as_str()))
        .collect();
    let current = stack_status(&client, stack).await?;
    let failed_state =
        |s: &str| matches!(s, "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "CREATE_FAILED" | "DELETE_FAILED");
    let body = template.clone().unwrap_or_default();
    let what = match plan.mode {
        Mode::DeleteOnly => {
            if current.is_some() {
                client
                    .delete_stack()
                    .stack_name(stack)
                    .set_role_arn(plan.role_arn.clone())
                    .send()
                    .await
                    .map_err(|e| format!("DeleteStack {stack}: {}", crate::aws::error_text(&e)))?;
                wait_stack(&client, stack, d.line).await?;
            }
            format!("deleted the stack {stack}")
        }
        Mode::CreateUpdate | Mode::ReplaceOnFailure => {
            let mut exists = current.is_some();
            if plan.mode == Mode::ReplaceOnFailure && current.as_deref().is_some_and(failed_state) {
                (d.line)(&format!(
                    "the stack {stack} is {}: replacing it",
                    current.clone().unwrap_or_default()
                ));
                client
                    .delete_stack()
                    .stack_name(stack)
                    .send()
                    .await
                    .map_err(|e| format!("DeleteStack {stack}: {}", crate::aws::error_text(&e)))?;
                wait_stack(&client, stack, d.line).await?;
                exists = false;
            }
            if exists {
                let updated = client
                    .update_stack()
                    .stack_name(stack)
                    .template_body(&body)
                    .set_parameters(Some(cfn_params.clone()))
                    .set_capabilities(Some(capabilities.clone()))
                    .set_role_arn(plan.role_arn.clone())
                    .send()
                    .await;
                match updated {
                    Ok(_) => {}
                    Err(e) if crate::aws::error_text(&e).contains("No updates are to be performed") => {
                        (d.line)(&format!("the stack {stack} has no changes"));
                    }
                    Err(e) => return Err(format!("UpdateStack {stack}: {}", crate::aws::error_text(&e))),
                }
            } else {
                client
                    .create_stack()
                    .stack_name(stack)
                    .template_body(&body)
                    .set_parameters(Some(cfn_params.clone()))
                    .set_capabilities(Some(capabilities.clone()))
                    .set_role_arn(plan.role_arn.clone())
                    .send()
                    .await
                    .map_err(|e| format!("CreateStack {stack}: {}", crate::aws::error_text(&e)))?;
            }
            let status = wait_stack(&client, stack, d.line).await?;
            format!("the stack {stack} is {status}")
        }
        Mode::ChangeSetReplace => {
            let name = plan.change_set.clone().unwrap_or_default();
            let _ = client.delete_change_set().stack_name(stack).change_set_name(&name).send().await;
            let kind = if current.is_some() {
                aws_sdk_cloudformation::types::ChangeSetType::Update
            } else {
                aws_sdk_cloudformation::types::ChangeSetType::Create
            };
            client
                .create_change_set()
                .stack_name(stack)
                .change_set_name(&name)
                .change_set_type(kind)
                .template_body(&body)
                .set_parameters(Some(cfn_params.clone()))
                .set_capabilities(Some(capabilities.clone()))
                .set_role_arn(plan.role_arn.clone())
                .send()
                .await
                .map_err(|e| format!("CreateChangeSet {name}: {}", crate::aws::error_text(&e)))?;
            format!("made the change set {name} of {stack}")
        }
        Mode::ChangeSetExecute => {
            let name = plan.change_set.clone().unwrap_or_default();
            client
                .execute_change_set()
                .stack_name(stack)
                .change_set_name(&name)
                .send()
                .await
                .map_err(|e| format!("ExecuteChangeSet {name}: {}", crate::aws::error_text(&e)))?;
            let status = wait_stack(&client, stack, d.line).await?;
            format!("executed the change set {name}: the stack {stack} is {status}")
        }
    };
    let mut variables = std::collections::BTreeMap::new();
    if plan.mode != Mode::DeleteOnly {
        let described = client.describe_stacks().stack_name(stack).send().await;
        if let Ok(described) = described {
            for o in described.stacks().first().map(|s| s.outputs()).unwrap_or_default() {
                if let (Some(k), Some(v)) = (o.output_key(), o.output_value()) {
                    variables.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    if let (Some(file), Some(output)) = (&plan.output_file, output) {
        let dir = d.store.join(output);
        std::fs::create_dir_all(&dir)
            .and_then(|()| {
                std::fs::write(dir.join(file), serde_json::to_string_pretty(&variables).unwrap_or_default())
            })
            .map_err(|e| format!("cannot write {file}: {e}"))?;
    }
    Ok(Deployed { summary: what, variables })
}

/// The stack's status, `None` when there is no such stack.
async fn stack_status(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Option<String>, String> {
    match client.describe_stacks().stack_name(stack).send().await {
        Ok(d) => Ok(d
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())
            .filter(|s| s != "DELETE_COMPLETE")),
        Err(e) if crate::aws::error_text(&e).contains("does not exist") => Ok(None),
        Err(e) => Err(format!("DescribeStacks {stack}: {}", crate::aws::error_text(&e))),
    }
}

/// Waits (at most an hour, polling every half second) until the stack leaves its
/// `*_IN_PROGRESS` state; its status, or why it failed.
async fn wait_stack(
    client: &aws_sdk_cloudformation::Client,
    stack: &str,
    line: &dyn Fn(&str),
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
    loop {
        let Some(status) = stack_status(client, stack).await? else { return Ok("DELETE_COMPLETE".into()) };
        if !status.ends_with("_IN_PROGRESS") {
            line(&format!("the stack {stack} is {status}"));
            return match status.as_str() {
                "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => Ok(status),
                other => Err(format!("the stack {stack} ended {other}")),
            };
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("the stack {stack} is still {status} after an hour"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The S3 deploy action (`BucketName`, `Extract`, `ObjectKey`): the input artifact's files
/// (`Extract` true, under `ObjectKey` as a prefix when given) or the artifact as one ZIP
/// (`Extract` false, at `ObjectKey`), to S3 with `--deploy aws`, to `<execution>/s3/<bucket>/`
/// with `--deploy local`, checked only with `skip`.
pub async fn s3(d: &Request<'_>) -> Result<String, String> {
    let bucket =
        d.config.get("BucketName").filter(|b| !b.is_empty()).ok_or("the action has no BucketName")?;
    let extract = match d.config.get("Extract").map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("true") => true,
        Some("false") => false,
        other => return Err(format!("Extract is `{}`; use true or false", other.unwrap_or(""))),
    };
    let key = d.config.get("ObjectKey").cloned().unwrap_or_default();
    if !extract && key.is_empty() {
        return Err("with Extract false, ObjectKey names the ZIP to write".into());
    }
    if key.starts_with('/') || key.split('/').any(|p| p == "..") {
        return Err(format!("ObjectKey `{key}` must be a relative key without `..`"));
    }
    let [(artifact, dir, _)] = d.inputs else {
        return Err(format!("an S3 deploy action has one input artifact; this one has {}", d.inputs.len()));
    };
    let files = crate::artifacts::collect::collect(dir, "", &["**/*".to_string()], &[], false, true)
        .map_err(|e| format!("cannot read the input artifact {artifact}: {e}"))?
        .files;
    let what = if extract { format!("{} file(s)", files.len()) } else { format!("{artifact} as a ZIP") };
    let prefix = key.trim_matches('/');
    match d.mode {
        Deploy::Skip => Ok(format!("not deployed (--deploy skip): {what} for s3://{bucket}/{prefix}")),
        Deploy::Local => {
            let root = d.store.join("s3").join(sanitize(bucket));
            let write = |e: std::io::Error| format!("cannot write the deploy under {}: {e}", root.display());
            let at = root.join(prefix);
            if extract {
                crate::artifacts::package::write_folder(&files, &at).map_err(write)?;
            } else {
                std::fs::create_dir_all(at.parent().unwrap_or(&root)).map_err(write)?;
                crate::artifacts::package::write_zip(&files, &at).map_err(write)?;
            }
            Ok(format!(
                "deployed {what} locally to {} (--deploy local; s3://{bucket}/{prefix} on AWS)",
                at.display()
            ))
        }
        Deploy::Aws => {
            let region = crate::aws::region_or_env(None);
            let config = crate::aws::sdk_config(&region, None).await;
            let uploader =
                crate::artifacts::s3::S3Uploader::new(crate::aws::s3_client(&config), "codepipeline");
            if extract {
                let n = uploader.upload_folder(files, bucket, prefix).await.map_err(|e| e.to_string())?;
                (d.line)(&format!("uploaded {n} file(s) to s3://{bucket}/{prefix}"));
            } else {
                uploader.upload_zip(files, bucket, prefix).await.map_err(|e| e.to_string())?;
            }
            Ok(format!("deployed {what} to s3://{bucket}/{prefix}"))
        }
    }
}

/// A task definition file: `{"taskDefinition": {…}}` (describe-task-definition) or the task
/// definition itself (the register-task-definition input).
fn read_task_definition(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let td = match value.get("taskDefinition") {
        Some(td) => td.clone(),
        None => value,
    };
    if !td["containerDefinitions"].is_array() {
        return Err(format!("{} has no containerDefinitions: it is not a task definition", path.display()));
    }
    Ok(td)
}

fn containers(td: &Value) -> Vec<Value> {
    td["containerDefinitions"].as_array().cloned().unwrap_or_default()
}

/// The containers in the order they start: each after those its `dependsOn` names.
pub fn start_order(containers: &[Value]) -> Result<Vec<usize>, String> {
    let name = |i: usize| containers[i]["name"].as_str().unwrap_or_default();
    let mut order: Vec<usize> = Vec::new();
    while order.len() < containers.len() {
        let before = order.len();
        for (i, container) in containers.iter().enumerate() {
            if order.contains(&i) {
                continue;
            }
            let ready = container["dependsOn"].as_array().into_iter().flatten().all(|dep| {
                let wanted = dep["containerName"].as_str().unwrap_or_default();
                order.iter().any(|&j| name(j) == wanted)
            });
            if ready {
                order.push(i);
            }
        }
        if order.len() == before {
            let stuck: Vec<&str> = (0..containers.len()).filter(|i| !order.contains(i)).map(name).collect();
            return Err(format!(
                "the containers' dependsOn cannot be satisfied (a cycle, or a name that is not a container): {}",
                stuck.join(", ")
            ));
        }
    }
    Ok(order)
}

/// Replaces the local deployment of `cluster/service` with `containers`.
async fn run_locally(
    cluster: &str,
    service: &str,
    containers: &[Value],
    line: &dyn Fn(&str),
) -> Result<String, String> {
    let order = start_order(containers)?;
    let docker = crate::exec::docker::connect().map_err(|e| e.to_string())?;
    let label = format!("{cluster}/{service}");
    let removed = remove_deployment(&docker, &label).await?;
    if removed > 0 {
        line(&format!("removed the previous local deployment of {label} ({removed} container(s))"));
    }
    let labels = HashMap::from([(SERVICE_LABEL.to_string(), label.clone())]);
    let network = format!("runspec-ecs-{}", sanitize(&format!("{cluster}-{service}")));
    let request = bollard::models::NetworkCreateRequest {
        name: network.clone(),
        driver: Some("bridge".into()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    docker.create_network(request).await.map_err(|e| format!("cannot create the network {network}: {e}"))?;
    // Every port of the task is published by the container that holds the namespace.
    let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    let mut published = Vec::new();
    for c in containers {
        for m in c["portMappings"].as_array().into_iter().flatten() {
            let Some(port) = m["containerPort"].as_u64() else { continue };
            let host_port = m["hostPort"].as_u64().unwrap_or(port);
            let protocol = m["protocol"].as_str().unwrap_or("tcp");
            ports.insert(
                format!("{port}/{protocol}"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(host_port.to_string()),
                }]),
            );
            published.push(format!("127.0.0.1:{host_port}"));
        }
    }
    let mut holder: Option<String> = None;
    let mut started = Vec::new();
    for &i in &order {
        let c = &containers[i];
        let name = c["name"].as_str().unwrap_or_default();
        let image = c["image"].as_str().ok_or_else(|| format!("the container {name} has no image"))?;
        let pull = crate::build::ecr_pull(image, None).await.map_err(|e| e.0)?;
        crate::exec::docker::prepare_image(&docker, image, pull).await.map_err(|e| e.to_string())?;
        let strings = |key: &str| -> Option<Vec<String>> {
            c[key].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        };
        let env: Vec<String> = c["environment"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(format!("{}={}", e["name"].as_str()?, e["value"].as_str().unwrap_or_default()))
            })
            .collect();
        let mut host = HostConfig::default();
        let mut exposed = None;
        match &holder {
            None => {
                host.network_mode = Some(network.clone());
                host.port_bindings = Some(ports.clone());
                exposed = Some(ports.keys().cloned().collect::<Vec<_>>());
            }
            Some(id) => host.network_mode = Some(format!("container:{id}")),
        }
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(env),
            cmd: strings("command"),
            entrypoint: strings("entryPoint"),
            working_dir: c["workingDirectory"].as_str().map(str::to_string),
            exposed_ports: exposed,
            labels: Some(HashMap::from([
                (SERVICE_LABEL.to_string(), label.clone()),
                ("runspec.ecs.container".to_string(), name.to_string()),
            ])),
            host_config: Some(host),
            ..Default::default()
        };
        let container_name = format!("runspec-ecs-{}", sanitize(&format!("{cluster}-{service}-{name}")));
        let options = CreateContainerOptionsBuilder::default().name(&container_name).build();
        let created = docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| format!("cannot create the container {name} from {image}: {e}"))?;
        docker
            .start_container(&created.id, None)
            .await
            .map_err(|e| format!("cannot start the container {name}: {e}"))?;
        line(&format!("started {name} ({image}) as {container_name}"));
        holder.get_or_insert(created.id);
        started.push(name.to_string());
    }
    Ok(format!(
        "deployed {label} locally: {}{}",
        started.join(", "),
        if published.is_empty() { String::new() } else { format!(" on {}", published.join(", ")) }
    ))
}

/// Removes the containers and the network of a local deployment; how many containers there
/// were.
pub async fn remove_deployment(docker: &Docker, label: &str) -> Result<usize, String> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{SERVICE_LABEL}={label}")])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let found = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| format!("cannot list the Docker engine's containers: {e}"))?;
    for c in &found {
        if let Some(id) = &c.id {
            let force = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            docker
                .remove_container(id, Some(force))
                .await
                .map_err(|e| format!("cannot remove the previous container {id}: {e}"))?;
        }
    }
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default().filters(&filters).build();
    for n in docker.list_networks(Some(options)).await.unwrap_or_default() {
        if let Some(id) = &n.id {
            docker
                .remove_network(id)
                .await
                .map_err(|e| format!("cannot remove the previous network {id}: {e}"))?;
        }
    }
    Ok(found.len())
}

/// A container name Docker accepts.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .collect()
}

/// The AWS deploy: a new revision of the service's task definition with the new images, and
/// the service updated to it.
async fn deploy_aws(
    cluster: &str,
    service: &str,
    images: &[ImageDefinition],
    line: &dyn Fn(&str),
) -> Result<String, String> {
    let region = crate::aws::region_or_env(None);
    let config = crate::aws::sdk_config(&region, None).await;
    let client = aws_sdk_ecs::Client::new(&config);
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let described =
        client.describe_services().cluster(cluster).services(service).send().await.map_err(|e| {
            err(&format!("cannot describe the service {service} of {cluster}"), &crate::aws::error_text(&e))
        })?;
    let found = described.services().iter().find(|s| s.service_name() == Some(service));
    let current = found
        .and_then(|s| s.task_definition())
        .ok_or_else(|| format!("the cluster {cluster} has no service {service}"))?
        .to_string();
    let td = client
        .describe_task_definition()
        .task_definition(&current)
        .send()
        .await
        .map_err(|e| {
            err(&format!("cannot describe the task definition {current}"), &crate::aws::error_text(&e))
        })?
        .task_definition
        .ok_or_else(|| format!("the task definition {current} was not returned"))?;
    let mut containers = td.container_definitions.clone().unwrap_or_default();
    let names: Vec<String> = containers.iter().filter_map(|c| c.name.clone()).collect();
    for i in images {
        let c = containers.iter_mut().find(|c| c.name.as_deref() == Some(i.name.as_str())).ok_or_else(|| {
            format!(
                "the image definitions name the container `{}`, which the task definition {current} does not have (it has: {})",
                i.name,
                names.join(", ")
            )
        })?;
        c.image = Some(i.image_uri.clone());
    }
    let registered = client
        .register_task_definition()
        .family(td.family.clone().unwrap_or_default())
        .set_container_definitions(Some(containers))
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_volumes(td.volumes.clone())
        .set_placement_constraints(td.placement_constraints.clone())
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_pid_mode(td.pid_mode.clone())
        .set_ipc_mode(td.ipc_mode.clone())
        .set_proxy_configuration(td.proxy_configuration.clone())
        .set_ephemeral_storage(td.ephemeral_storage.clone())
        .set_runtime_platform(td.runtime_platform.clone())
        .send()
        .await
        .map_err(|e| err("cannot register the new task definition revision", &crate::aws::error_text(&e)))?;
    let new_arn = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .ok_or("the new task definition has no ARN")?
        .to_string();
    line(&format!("registered {new_arn}"));
    client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(&new_arn)
        .send()
        .await
        .map_err(|e| err(&format!("cannot update the service {service}"), &crate::aws::error_text(&e)))?;
    Ok(format!("updated the service {service} of {cluster} to {new_arn}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_start_after_what_they_depend_on() {
        let containers = vec![
            json!({"name": "app", "dependsOn": [{"containerName": "db", "condition": "START"}]}),
            json!({"name": "db"}),
            json!({"name": "proxy", "dependsOn": [{"containerName": "app", "condition": "START"}]}),
        ];
        assert_eq!(start_order(&containers).unwrap(), [1, 0, 2]);
        let cycle = vec![
            json!({"name": "a", "dependsOn": [{"containerName": "b"}]}),
            json!({"name": "b", "dependsOn": [{"containerName": "a"}]}),
        ];
        assert!(start_order(&cycle).unwrap_err().contains("a, b"));
        assert!(start_order(&[json!({"name": "x", "dependsOn": [{"containerName": "nope"}]})]).is_err());
    }
}
