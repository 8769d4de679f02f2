"""Writes the slice of botocore's CodeBuild, CloudWatch Logs and CodePipeline models that
`runspec serve` and `runspec pipeline` implement: for each operation its input and output shapes, and every shape they reach, with
only what the server checks (types, members, required members, enums, length and value bounds,
patterns), and the Rust types of those shapes (serde structs, one per structure shape). The
server validates every request against the model and reads it into the types;
`agent/tests/it/wire.rs` runs this again and fails when the committed files drift from botocore.

    target/tools/venv/bin/python scripts/wire_model.py [OUT_DIR [RUST_DIR]]

OUT_DIR defaults to agent/src/serve/wire/model, RUST_DIR to agent/src/shapes. Needs botocore
(the test venv has it).
"""

import json
import keyword
import os
import re
import subprocess
import sys

import botocore.session

# The operations `runspec serve` answers, by service. Keep in step with `serve::wire::OPERATIONS`.
OPERATIONS = {
    "codebuild": [
        "BatchDeleteBuilds",
        "BatchGetBuildBatches",
        "BatchGetBuilds",
        "BatchGetProjects",
        "CreateProject",
        "CreateWebhook",
        "DeleteBuildBatch",
        "DeleteProject",
        "DeleteWebhook",
        "ListBuildBatches",
        "ListBuildBatchesForProject",
        "ListBuilds",
        "ListBuildsForProject",
        "ListProjects",
        "RetryBuild",
        "RetryBuildBatch",
        "StartBuild",
        "StartBuildBatch",
        "StopBuild",
        "StopBuildBatch",
        "UpdateProject",
        "UpdateWebhook",
    ],
    "logs": ["DescribeLogStreams", "FilterLogEvents", "GetLogEvents"],
    # The pipelines `runspec pipeline` reads and the API `runspec serve` answers for them; the
    # job API `runspec worker --codepipeline-action` calls as a custom action's job worker.
    "codepipeline": [
        "AcknowledgeJob",
        "CreatePipeline",
        "DeletePipeline",
        "GetPipeline",
        "GetPipelineExecution",
        "GetPipelineState",
        "ListActionExecutions",
        "ListPipelineExecutions",
        "ListPipelines",
        "PollForJobs",
        "PutApprovalResult",
        "PutJobFailureResult",
        "PutJobSuccessResult",
        "StartPipelineExecution",
        "StopPipelineExecution",
        "UpdatePipeline",
    ],
}

KEPT = ("min", "max", "pattern")


def shape_facts(shape):
    out = {"type": shape.type_name}
    for key in KEPT:
        if key in shape.metadata:
            out[key] = shape.metadata[key]
    if getattr(shape, "enum", None):
        out["enum"] = list(shape.enum)
    if shape.type_name == "structure":
        out["members"] = {name: member.name for name, member in shape.members.items()}
        if shape.required_members:
            out["required"] = list(shape.required_members)
    elif shape.type_name == "list":
        out["member"] = shape.member.name
    elif shape.type_name == "map":
        out["key"] = shape.key.name
        out["value"] = shape.value.name
    return out


def slice_of(service, operations):
    model = botocore.session.get_session().get_service_model(service)
    shapes, ops = {}, {}

    def walk(shape):
        if shape.name in shapes:
            return
        shapes[shape.name] = shape_facts(shape)
        if shape.type_name == "structure":
            for member in shape.members.values():
                walk(member)
        elif shape.type_name == "list":
            walk(shape.member)
        elif shape.type_name == "map":
            walk(shape.key)
            walk(shape.value)

    for name in operations:
        op = model.operation_model(name)
        entry = {}
        if op.input_shape is not None:
            entry["input"] = op.input_shape.name
            walk(op.input_shape)
        if op.output_shape is not None:
            entry["output"] = op.output_shape.name
            walk(op.output_shape)
        ops[name] = entry
    return {
        "service": service,
        "apiVersion": model.api_version,
        "targetPrefix": model.metadata["targetPrefix"],
        "operations": ops,
        "shapes": dict(sorted(shapes.items())),
    }


def snake(name):
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    if out == "type":
        return "kind"
    if keyword.iskeyword(out) or out in ("match", "ref", "mod", "fn", "use", "impl", "move", "loop"):
        return out + "_"
    return out


def rust_type(shapes, name):
    shape = shapes[name]
    t = shape["type"]
    if t == "structure":
        return name
    if t == "list":
        return f"Vec<{rust_type(shapes, shape['member'])}>"
    if t == "map":
        return f"BTreeMap<String, {rust_type(shapes, shape['value'])}>"
    return {
        "string": "String",
        "integer": "i64",
        "long": "i64",
        "boolean": "bool",
        "timestamp": "f64",
        "double": "f64",
        "float": "f64",
        "blob": "String",
    }[t]


def rust_module(model):
    shapes = model["shapes"]
    lines = [
        f"//! The {model['service']} API's shapes ({model['targetPrefix']}), as botocore's model defines",
        "//! them: one struct per structure shape the server reaches, members in the model's order.",
        "//! Required members are plain values (the model check requires them in requests; read",
        "//! elsewhere they default); every other is optional and left out when absent.",
        "//! Enums are strings (checked against the model where they come in).",
        "//!",
        "//! Written by `scripts/wire_model.py` from botocore's model; do not edit.",
        "",
        "use std::collections::BTreeMap;",
        "",
        "use serde::{Deserialize, Serialize};",
        "",
    ]
    uses_map = any(
        "BTreeMap" in rust_type(shapes, t)
        for shape in shapes.values()
        if shape["type"] == "structure"
        for t in shape["members"].values()
    )
    if not uses_map:
        lines.remove("use std::collections::BTreeMap;")
        lines.pop(lines.index("use serde::{Deserialize, Serialize};") - 1)
    for name, shape in shapes.items():
        if shape["type"] != "structure":
            continue
        lines.append(f"/// `{name}`.")
        lines.append("#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]")
        lines.append(f"pub struct {name} {{")
        required = set(shape.get("required", []))
        for member, target in shape["members"].items():
            ty = rust_type(shapes, target)
            lines.append(f"    #[serde(rename = \"{member}\"")
            if member in required:
                # Required where a request comes in (the model check says so); a record read
                # back or a partial `--project` file may lack it.
                lines[-1] += ", default)]"
                lines.append(f"    pub {snake(member)}: {ty},")
            else:
                lines[-1] += ", default, skip_serializing_if = \"Option::is_none\")]"
                lines.append(f"    pub {snake(member)}: Option<{ty}>,")
        lines.append("}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "agent", "src", "serve", "wire", "model")
    rust_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "agent", "src", "shapes")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(rust_dir, exist_ok=True)
    for service, operations in OPERATIONS.items():
        model = slice_of(service, operations)
        with open(os.path.join(out_dir, f"{service}.json"), "w") as f:
            json.dump(model, f, indent=1, sort_keys=False)
            f.write("\n")
        rust = os.path.join(rust_dir, f"{service}.rs")
        with open(rust, "w") as f:
            f.write(rust_module(model))
        # Formatted as the rest of the code, so `cargo fmt --check` and the drift test agree.
        config = os.path.join(here, "..", "rustfmt.toml")
        subprocess.run(["rustfmt", "--edition", "2024", "--config-path", config, rust], check=True)


if __name__ == "__main__":
    main()
