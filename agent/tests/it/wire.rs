//! The wire cannot drift from AWS's: the model the server checks requests against is botocore's
//! (regenerated and compared), every implemented operation answers with the model's member
//! names, types and enum values, and every bound the model states is enforced on the way in.

use std::process::Command;

use serde_json::{Value, json};

use super::serve::{Server, venv};

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn the_embedded_model_is_botocores() {
    let out = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/wire_model.py");
    let status = Command::new(venv().join("bin/python"))
        .arg(script)
        .arg(out.path())
        .arg(out.path().join("rust"))
        .status()
        .unwrap();
    assert!(status.success());
    for service in ["codebuild", "logs", "codepipeline"] {
        let fresh = std::fs::read_to_string(out.path().join(format!("rust/{service}.rs"))).unwrap();
        let committed =
            std::fs::read_to_string(format!("{}/src/shapes/{service}.rs", env!("CARGO_MANIFEST_DIR")))
                .unwrap();
        assert!(
            fresh == committed,
            "agent/src/shapes/{service}.rs differs from botocore's model: run scripts/wire_model.py"
        );
        let fresh = std::fs::read_to_string(out.path().join(format!("{service}.json"))).unwrap();
        let committed = std::fs::read_to_string(format!(
            "{}/src/serve/wire/model/{service}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(
            fresh == committed,
            "agent/src/serve/wire/model/{service}.json differs from botocore's model: run scripts/wire_model.py"
        );
    }
}

/// Python: `check(operation, answer, service)` lists every way an answer breaks the
/// operation's output shape in botocore's model (unknown members, wrong types, enum values
/// outside the set). Members named `runspec…` are runspec's documented additions; the one enum
/// value CodeBuild itself answers outside its model is allowed where it does.
const CHECKER: &str = r#"
import botocore.session
models = {'codebuild': botocore.session.get_session().get_service_model('codebuild'),
          'logs': botocore.session.get_session().get_service_model('logs')}
def walk(shape, value, path, problems):
    t = shape.type_name
    if t == 'structure':
        if not isinstance(value, dict):
            return problems.append(f'{path}: {type(value).__name__} for a structure')
        for k, v in value.items():
            if k.startswith('runspec'):
                continue
            if k not in shape.members:
                problems.append(f'{path}.{k}: not a member of {shape.name}')
            elif v is not None:
                walk(shape.members[k], v, f'{path}.{k}', problems)
    elif t == 'list':
        if not isinstance(value, list):
            return problems.append(f'{path}: {type(value).__name__} for a list')
        for i, v in enumerate(value):
            walk(shape.member, v, f'{path}[{i}]', problems)
    elif t == 'map':
        if not isinstance(value, dict):
            return problems.append(f'{path}: {type(value).__name__} for a map')
        for k, v in value.items():
            walk(shape.value, v, f'{path}.{k}', problems)
    elif t == 'string':
        if not isinstance(value, str):
            return problems.append(f'{path}: {type(value).__name__} for a string')
        # CodeBuild itself answers lower-case artifact types in a batch's build summaries
        # (R-BATCH-09, awscli's batch-get-build-batches example): kept as it does.
        quirk = shape.name == 'ArtifactsType' and '.primaryArtifact.' in path + '.' and value in ('no_artifacts', 's3')
        if shape.enum and value not in shape.enum and not quirk:
            problems.append(f'{path}: {value!r} is not in {shape.name}')
    elif t in ('integer', 'long'):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f'{path}: {value!r} for an integer')
    elif t in ('double', 'float'):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f'{path}: {value!r} for a number')
    elif t == 'boolean':
        if not isinstance(value, bool):
            problems.append(f'{path}: {value!r} for a boolean')
    elif t == 'timestamp':
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f'{path}: {value!r} for a timestamp (epoch seconds)')
def check(op, answer, service='codebuild'):
    if answer[0] != 200:
        return [f'{op}: HTTP {answer[0]} {answer[1]}']
    problems = []
    walk(models[service].operation_model(op).output_shape, answer[1], op, problems)
    return problems
"#;

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn every_operation_answers_in_the_models_shapes() {
    let s = Server::start(&[]);
    let v = s.python(&format!(
        r#"{CHECKER}
problems = []
def call(op, body, service='codebuild'):
    prefix = 'CodeBuild_20161006' if service == 'codebuild' else 'Logs_20140328'
    answer = send(prefix + '.' + op, body, service=service)
    problems.extend(check(op, answer, service))
    return answer[1]
spec = 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n'
batch = 'version: 0.2\nbatch:\n  build-list:\n    - identifier: one\nphases:\n  build:\n    commands:\n      - echo hi\n'
env = {{'type': 'LINUX_CONTAINER', 'image': 'runspec/host', 'computeType': 'BUILD_GENERAL1_SMALL',
       'environmentVariables': [{{'name': 'A', 'value': '1', 'type': 'PLAINTEXT'}}]}}
call('CreateProject', {{'name': 'wire', 'source': {{'type': 'NO_SOURCE', 'buildspec': spec}}, 'artifacts': {{'type': 'NO_ARTIFACTS'}},
     'environment': env, 'serviceRole': 'r', 'timeoutInMinutes': 10, 'tags': [{{'key': 'k', 'value': 'v'}}],
     'buildBatchConfig': {{'serviceRole': 'r', 'restrictions': {{'maximumBuildsAllowed': 5}}, 'timeoutInMins': 60}}}})
call('UpdateProject', {{'name': 'wire', 'description': 'the wire test'}})
call('BatchGetProjects', {{'names': ['wire', 'missing']}})
call('ListProjects', {{'sortBy': 'NAME', 'sortOrder': 'ASCENDING'}})
build = call('StartBuild', {{'projectName': 'wire', 'environmentVariablesOverride': [{{'name': 'B', 'value': '2'}}]}})['build']['id']
deadline = time.time() + 60
while time.time() < deadline and not call('BatchGetBuilds', {{'ids': [build]}})['builds'][0]['buildComplete']:
    time.sleep(0.2)
call('BatchGetBuilds', {{'ids': [build, 'wire:missing']}})
call('ListBuilds', {{'sortOrder': 'DESCENDING'}})
call('ListBuildsForProject', {{'projectName': 'wire'}})
call('StopBuild', {{'id': build}})
retried = call('RetryBuild', {{'id': build}})['build']['id']
call('StopBuild', {{'id': retried}})
stream = build.split(':', 1)[1]
call('GetLogEvents', {{'logGroupName': '/aws/codebuild/wire', 'logStreamName': stream, 'startFromHead': True}}, 'logs')
call('FilterLogEvents', {{'logGroupName': '/aws/codebuild/wire', 'filterPattern': 'hi'}}, 'logs')
call('DescribeLogStreams', {{'logGroupName': '/aws/codebuild/wire'}}, 'logs')
bb = call('StartBuildBatch', {{'projectName': 'wire', 'buildspecOverride': batch}})['buildBatch']['id']
deadline = time.time() + 60
while time.time() < deadline and not call('BatchGetBuildBatches', {{'ids': [bb]}})['buildBatches'][0].get('complete'):
    time.sleep(0.2)
call('BatchGetBuildBatches', {{'ids': [bb, 'wire:missing']}})
call('ListBuildBatches', {{}})
call('ListBuildBatchesForProject', {{'projectName': 'wire'}})
call('StopBuildBatch', {{'id': bb}})
again = call('RetryBuildBatch', {{'id': bb, 'retryType': 'RETRY_ALL_BUILDS'}})['buildBatch']['id']
deadline = time.time() + 60
while time.time() < deadline and not call('BatchGetBuildBatches', {{'ids': [again]}})['buildBatches'][0].get('complete'):
    time.sleep(0.2)
call('DeleteBuildBatch', {{'id': bb}})
call('BatchDeleteBuilds', {{'ids': [retried]}})
call('DeleteProject', {{'name': 'wire'}})
print(json.dumps(problems))
"#
    ));
    assert_eq!(v, json!([]), "answers outside the model");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn every_bound_of_the_model_is_enforced() {
    // From botocore's model: for every implemented operation, every top-level member with an
    // enum, a length or a value bound gets a value just outside it; each is refused with the
    // service's validation error and the member's name, and never reaches the operation.
    let s = Server::start(&[]);
    let v = s.python(
        r#"
import botocore.session
session_ = botocore.session.get_session()
refused, accepted = [], []
for service, prefix, kind in [('codebuild', 'CodeBuild_20161006', 'InvalidInputException'), ('logs', 'Logs_20140328', 'InvalidParameterException')]:
    model = session_.get_service_model(service)
    ops = json.load(open(f"{MODEL_DIR}/{service}.json"))['operations']
    for op in ops:
        shape = model.operation_model(op).input_shape
        if shape is None:
            continue
        for name, member in shape.members.items():
            m = member.metadata
            bad = []
            if member.type_name == 'string' and member.enum:
                bad.append('NOT_A_VALUE')
            if member.type_name == 'string' and 'max' in m:
                bad.append('x' * (int(m['max']) + 1))
            if member.type_name in ('integer', 'long') and 'max' in m:
                bad.append(int(m['max']) + 1)
            if member.type_name in ('integer', 'long') and 'min' in m:
                bad.append(int(m['min']) - 1)
            if member.type_name == 'list' and 'max' in m:
                item = {} if member.member.type_name == 'structure' else 'x'
                bad.append([item] * (int(m['max']) + 1))
            for value in bad:
                answer = send(prefix + '.' + op, {name: value}, service=service)
                ok = answer[0] == 400 and answer[1].get('__type') == kind and name in answer[1].get('message', '')
                (refused if ok else accepted).append([op, name, str(value)[:40], answer[1]])
print(json.dumps({'refused': len(refused), 'accepted': accepted}))
"#
        .replace("{MODEL_DIR}", concat!(env!("CARGO_MANIFEST_DIR"), "/src/serve/wire/model"))
        .as_str(),
    );
    assert_eq!(v["accepted"], json!([]), "bounds not enforced");
    assert!(v["refused"].as_u64().unwrap() > 30, "{v}");
}

#[test]
#[ignore = "needs the test venv: run scripts/test.sh"]
fn values_outside_codebuilds_bounds_never_reach_a_build() {
    // autoRetryLimitOverride 1000000 once started 650 builds in 8 s; timeoutInMinutes 2^64-1 ended
    // the build FAULT with an overflow. Both are refused up front now.
    let s = Server::start(&[]);
    s.create_project("bounds", "version: 0.2\nphases:\n  build:\n    commands: [exit 1]\n", &[]);
    let v = s.python(
        r#"
out = {}
out['retries'] = send('CodeBuild_20161006.StartBuild', {'projectName': 'bounds', 'autoRetryLimitOverride': 1000000})
out['timeout'] = send('CodeBuild_20161006.StartBuild', b'{"projectName": "bounds", "timeoutInMinutesOverride": 18446744073709551615}')
out['project timeout'] = send('CodeBuild_20161006.UpdateProject', b'{"name": "bounds", "timeoutInMinutes": 18446744073709551615}')
out['builds'] = send('CodeBuild_20161006.ListBuildsForProject', {'projectName': 'bounds'})
print(json.dumps(out))
"#,
    );
    assert_eq!(v["retries"][1]["__type"], "InvalidInputException", "{v}");
    assert!(v["retries"][1]["message"].as_str().unwrap().contains("less than or equal to 10"), "{v}");
    for case in ["timeout", "project timeout"] {
        assert_eq!(v[case][0], 400, "{case}: {v}");
        assert_ne!(v[case][1]["__type"], Value::Null, "{case}: {v}");
    }
    assert_eq!(v["builds"][1]["ids"], json!([]), "nothing started: {v}");
}
