/** `minimacllm pull <hf:source>`: downloads a model into the Hugging Face hub cache and prints its path. */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors';
import { pullModel } from '../hub/pull';
import { isHubSource } from '../hub/source';
import type { Command } from './command';
import { downloadProgress, formatBytes } from './progress';

export const HF_SOURCE_USAGE = `  hf:org/repo             the repo's Q4_K_M GGUF (else its first GGUF, else its safetensors model)
  hf:org/repo:QUANT       the GGUF file whose name carries QUANT (e.g. Q8_0)
  hf:org/repo/file.gguf   that file (a split part brings its whole set)
  hf:org/repo@REV…        at a branch, tag or commit`;

export const pullCommand: Command = {
  summary: 'download a model from the Hugging Face Hub into the shared cache',
  usage: `usage: minimacllm pull <source> [--quiet]

Downloads (or resumes) a model into the Hugging Face hub cache that Python's
huggingface_hub shares, checks its sha256, and prints its local path.

${HF_SOURCE_USAGE}

  -q, --quiet   no progress output

environment: HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, NO_COLOR`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { quiet: { type: 'boolean', short: 'q', default: false } },
    });
    const [source, ...extra] = positionals;
    if (source === undefined || extra.length > 0)
      throw new InvalidArgumentError(`expected one source\n\n${this.usage}`);
    if (!isHubSource(source))
      throw new InvalidArgumentError(`${JSON.stringify(source)} is not an hf: source\n\n${this.usage}`);
    const progress = values.quiet ? undefined : downloadProgress();
    const ac = new AbortController();
    const onSigint = (): void => ac.abort();
    process.once('SIGINT', onSigint);
    try {
      const r = await pullModel(source, {
        signal: ac.signal,
        ...(progress ? { onProgress: progress.onProgress } : {}),
        onWait: (file) => {
          if (!values.quiet) process.stderr.write(`waiting for another process downloading ${file}\n`);
        },
      });
      progress?.done();
      if (!values.quiet) {
        const what = r.downloadedBytes > 0 ? `downloaded ${formatBytes(r.downloadedBytes)}` : 'already in the cache';
        process.stderr.write(
          `${source} (${r.repo}@${r.commit.slice(0, 12)}, ${r.files.length} file${r.files.length > 1 ? 's' : ''}): ${what}\n`,
        );
      }
      process.stdout.write(`${r.path}\n`);
      return 0;
    } finally {
      progress?.done();
      process.removeListener('SIGINT', onSigint);
    }
  },
};
