"""line-count, written in Python: counts the lines of the files a step names.

Built with componentize-py against runspec's WIT (see README.md next to this file). It does the
same job as line-count-js, so one test drives both languages through the agent.

with:
  files:  list of paths, relative to the source directory (required)
  output: path of a report to write, one "<count> <path>" line per file (optional; needs
          allow.write)
Exports LINE_COUNT_TOTAL for later commands; the report, when written, becomes an artifact.
"""

import wit_world
from wit_world.imports import host, types
from componentize_py_types import Err


def fail(kind, message):
    raise Err(kind(message))


def arg(ctx, name):
    for key, value in ctx.args:
        if key == name:
            return value
    return None


class WitWorld(wit_world.WitWorld):
    def run(self, ctx: types.StepContext) -> types.StepOutput:
        files = arg(ctx, "files")
        if isinstance(files, types.ArgValue_Str):
            files = [files.value]
        elif isinstance(files, types.ArgValue_Strings):
            files = files.value
        else:
            fail(types.StepError_InvalidArgs, "`files` is required: a path or a list of paths")
        output = arg(ctx, "output")
        if output is not None and not isinstance(output, types.ArgValue_Str):
            fail(types.StepError_InvalidArgs, "`output` must be a path")

        total = 0
        lines = []
        for path in files:
            try:
                with open(path, "rb") as f:
                    count = sum(1 for _ in f)
            except OSError as e:
                fail(types.StepError_Failed, f"cannot read {path}: {e.strerror}")
            host.log(host.LogLevel.INFO, f"{path}: {count} lines")
            total += count
            lines.append(f"{count} {path}\n")

        artifacts = []
        if output is not None:
            try:
                with open(output.value, "w") as f:
                    f.writelines(lines)
            except OSError as e:
                fail(types.StepError_Failed, f"cannot write {output.value}: {e.strerror}")
            artifacts.append(output.value)

        meta = host.get_build_metadata()
        print(f"counted for build {meta.build_id}")
        return types.StepOutput(
            message=f"{total} lines in {len(files)} files (Python)",
            exported_env=[("LINE_COUNT_TOTAL", str(total))],
            artifacts=artifacts,
        )
