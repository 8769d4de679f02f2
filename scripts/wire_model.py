"""Writes the slice of botocore's CodeBuild and CloudWatch Logs models that `runspec serve`
implements: for each operation its input and output shapes, and every shape they reach, with
only what the server checks (types, members, required members, enums, length and value bounds,
patterns). The server validates every request against it; `agent/tests/it/wire.rs` runs this
again and fails when the committed files drift from the model.

    target/tools/venv/bin/python scripts/wire_model.py [OUT_DIR]

OUT_DIR defaults to agent/src/serve/wire/model. Needs botocore (the test venv has it).
"""

import json
import os
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
        "DeleteBuildBatch",
        "DeleteProject",
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
    ],
    "logs": ["DescribeLogStreams", "FilterLogEvents", "GetLogEvents"],
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "agent", "src", "serve", "wire", "model")
    os.makedirs(out_dir, exist_ok=True)
    for service, operations in OPERATIONS.items():
        with open(os.path.join(out_dir, f"{service}.json"), "w") as f:
            json.dump(slice_of(service, operations), f, indent=1, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
