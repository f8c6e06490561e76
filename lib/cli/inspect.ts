/** `minimacllm inspect <model>`: metadata and tensor summary of a GGUF file or HF folder. */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors';
import { ggmlTypeName, type GGUFValue } from '../gguf/types';
import { pullModel } from '../hub/pull';
import { isHubSource } from '../hub/source';
import { describeModel, type ModelDescription } from '../model/description';
import type { Command } from './command';
import { out } from './stdout';

/** Short text for a metadata value: arrays show their length and first items. */
export function formatValue(v: GGUFValue, maxItems = 4): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}…` : v);
  if (typeof v !== 'object') return String(v);
  const items = Array.from(v as ArrayLike<GGUFValue>);
  const head = items.slice(0, maxItems).map((x) => formatValue(x, 2));
  return `[${items.length} ${v.constructor.name === 'Array' ? 'items' : v.constructor.name}: ${head.join(', ')}${items.length > maxItems ? ', …' : ''}]`;
}

function formatBytes(n: number): string {
  return n >= 1 << 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : n >= 1 << 20
      ? `${(n / 2 ** 20).toFixed(1)} MiB`
      : `${(n / 1024).toFixed(1)} KiB`;
}

export function formatDescription(d: ModelDescription, allTensors: boolean): string {
  const out: string[] = [];
  out.push(
    `${d.format.toUpperCase()} ${d.architecture} "${d.name}" (${formatBytes(d.fileBytes)} in ${d.files.length} file${d.files.length > 1 ? 's' : ''})`,
  );
  out.push('', 'hyperparameters:');
  for (const [k, v] of Object.entries(d.hparams))
    out.push(`  ${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  if (d.metadata) {
    out.push('', 'metadata:');
    for (const [k, v] of Object.entries(d.metadata)) out.push(`  ${k} = ${formatValue(v)}`);
  }
  const byType = new Map<string, { count: number; bytes: number }>();
  let params = 0;
  for (const t of d.tensors.values()) {
    const name = ggmlTypeName(t.type);
    const e = byType.get(name) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += t.bytes;
    byType.set(name, e);
    params += t.shape.reduce((a, b) => a * b, 1);
  }
  out.push('', `tensors: ${d.tensors.size}, ${(params / 1e6).toFixed(2)}M parameters`);
  for (const [name, e] of byType)
    out.push(`  ${name.padEnd(6)} ${String(e.count).padStart(5)} tensors  ${formatBytes(e.bytes)}`);
  const list = [...d.tensors.values()];
  const shown = allTensors ? list : list.slice(0, 12);
  out.push('');
  for (const t of shown) out.push(`  ${t.name.padEnd(32)} ${ggmlTypeName(t.type).padEnd(5)} [${t.shape.join(', ')}]`);
  if (shown.length < list.length) out.push(`  … ${list.length - shown.length} more (--tensors lists all)`);
  return out.join('\n');
}

export const inspectCommand: Command = {
  summary: 'show the metadata and tensors of a GGUF file or Hugging Face folder',
  usage:
    'usage: minimacllm inspect <model.gguf | hf-dir | hf:org/repo[:QUANT]> [--tensors]\n\n  --tensors   list every tensor',
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { tensors: { type: 'boolean', default: false } },
    });
    if (positionals.length !== 1) throw new InvalidArgumentError(`expected one model path\n\n${this.usage}`);
    let source = positionals[0]!;
    if (isHubSource(source)) source = (await pullModel(source)).path;
    const d = await describeModel(source);
    out(`${formatDescription(d, values.tensors === true)}\n`);
    return 0;
  },
};
