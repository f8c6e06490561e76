/** `minimacllm rm <hf:source>`: removes a model from the Hugging Face hub cache. */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors';
import { removeCachedModel } from '../hub/manage';
import { isHubSource } from '../hub/source';
import type { Command } from './command';
import { formatBytes } from './progress';

export const rmCommand: Command = {
  summary: 'remove a model from the Hugging Face hub cache',
  usage: `usage: minimacllm rm <source>

  hf:org/repo               the whole repo (every snapshot, blob and ref)
  hf:org/repo:QUANT         that quant's GGUF file (or split set), in every snapshot
  hf:org/repo/path          that file or folder
  hf:org/repo@REV…          only in that revision's snapshot

Blobs that another snapshot entry still uses are kept.`,
  async run(argv) {
    const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
    const [source, ...extra] = positionals;
    if (source === undefined || extra.length > 0)
      throw new InvalidArgumentError(`expected one source\n\n${this.usage}`);
    if (!isHubSource(source))
      throw new InvalidArgumentError(`${JSON.stringify(source)} is not an hf: source\n\n${this.usage}`);
    const r = await removeCachedModel(source);
    for (const m of r.removed) process.stdout.write(`removed ${m.source} (${formatBytes(m.size)})\n`);
    if (r.repoRemoved && r.removed.length === 0) process.stdout.write(`removed ${source}\n`);
    process.stdout.write(`freed ${formatBytes(r.freedBytes)}\n`);
    return 0;
  },
};
