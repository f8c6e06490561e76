/** `minimacllm ls`: the models in the Hugging Face hub cache. */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors';
import { listCachedModels } from '../hub/manage';
import { hubSettings } from '../hub/settings';
import type { Command } from './command';
import { formatBytes } from './progress';

export const lsCommand: Command = {
  summary: 'list the models in the Hugging Face hub cache',
  usage: `usage: minimacllm ls [--json]

Lists the GGUF files (split sets as one) and safetensors folders in the hub
cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub),
whichever tool downloaded them.

  --json   one JSON array (repo, commit, refs, kind, file, quant, size, path, files, source)`,
  run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false } },
    });
    if (positionals.length > 0) throw new InvalidArgumentError(`ls takes no arguments\n\n${this.usage}`);
    const models = listCachedModels();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
      return Promise.resolve(0);
    }
    if (models.length === 0) {
      process.stderr.write(`no models in ${hubSettings().cacheDir}\n`);
      return Promise.resolve(0);
    }
    const rows = [
      ['REPO', 'REVISION', 'FILE', 'QUANT', 'SIZE', 'PATH'],
      ...models.map((m) => [
        m.repo,
        m.refs.length ? m.refs.join(',') : m.commit.slice(0, 12),
        m.kind === 'hf' ? m.file || '.' : m.files.length > 1 ? `${m.file} (+${m.files.length - 1} parts)` : m.file,
        m.quant ?? '-',
        formatBytes(m.size),
        m.path,
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`);
    return Promise.resolve(0);
  },
};
