// image-tag, written in JavaScript: computes the tag an image build should use, the job
// buildspecs usually do with `COMMIT_HASH=$(echo $CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c 1-7)`.
//
// Built with componentize-js against runspec's WIT (see README.md next to this file).
//
// with:
//   repository: image repository URI, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
//               (required)
//   length:     how many characters of the commit to keep (default 7)
//   prefix:     put before the tag, e.g. "v1-" (optional)
// allow.env: CODEBUILD_RESOLVED_SOURCE_VERSION (else the build metadata's source version, else
//            "latest")
// Exports IMAGE_TAG and IMAGE_URI for later commands.
import { log, getBuildMetadata } from 'runspec:plugin/host@0.1.0';

function fail(tag, message) {
  // componentize-js turns a thrown value into the `err` side of the result.
  throw { tag, val: message };
}

function arg(ctx, name) {
  const found = ctx.args.find(([key]) => key === name);
  return found ? found[1] : undefined;
}

export function run(ctx) {
  const repository = arg(ctx, 'repository');
  if (!repository || repository.tag !== 'str' || repository.val === '') {
    fail('invalid-args', '`repository` is required: the image repository URI');
  }
  if (/[:@\s]/.test(repository.val.split('/').pop())) {
    fail('invalid-args', `\`repository\` must not carry a tag or digest: ${repository.val}`);
  }
  const length = arg(ctx, 'length');
  let keep = 7;
  if (length !== undefined) {
    if (length.tag !== 'int' || length.val < 1n) {
      fail('invalid-args', '`length` must be a positive integer');
    }
    keep = Number(length.val);
  }
  const prefix = arg(ctx, 'prefix');
  if (prefix !== undefined && prefix.tag !== 'str') {
    fail('invalid-args', '`prefix` must be a string');
  }

  const env = new Map(ctx.env);
  const meta = getBuildMetadata();
  let source = env.get('CODEBUILD_RESOLVED_SOURCE_VERSION') ?? meta.sourceVersion ?? '';
  let tag;
  if (source === '') {
    log('warn', 'no source version (allow.env: [CODEBUILD_RESOLVED_SOURCE_VERSION]); using "latest"');
    tag = 'latest';
  } else {
    tag = source.slice(0, keep);
  }
  tag = (prefix ? prefix.val : '') + tag;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
    fail('failed', `"${tag}" is not a valid image tag`);
  }
  const uri = `${repository.val}:${tag}`;
  log('info', `build ${meta.buildNumber} of ${meta.projectName} → ${uri}`);
  return {
    message: `tag ${tag} (JavaScript)`,
    exportedEnv: [['IMAGE_TAG', tag], ['IMAGE_URI', uri]],
    artifacts: [],
  };
}
