#!/usr/bin/env node
/**
 * minimacllm command line. Subcommands live one per file and are listed in
 * COMMANDS; each parses its own arguments (node:util parseArgs).
 */
import { MiniMacLLMError } from '../errors';
import { chatCommand } from './chat';
import type { Command } from './command';
import { convertCommand } from './convert';
import { embedCommand } from './embed';
import { generateCommand } from './generate';
import { inspectCommand } from './inspect';
import { lsCommand } from './ls';
import { perplexityCommand } from './perplexity';
import { pullCommand } from './pull';
import { rmCommand } from './rm';

export type { Command } from './command';

export const COMMANDS: Record<string, Command> = {
  convert: convertCommand,
  inspect: inspectCommand,
  generate: generateCommand,
  chat: chatCommand,
  perplexity: perplexityCommand,
  embed: embedCommand,
  pull: pullCommand,
  ls: lsCommand,
  rm: rmCommand,
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: minimacllm <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nminimacllm <command> --help for a command's options`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 1 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`minimacllm: unknown command "${name}"\n\n${usage()}\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof MiniMacLLMError) {
      process.stderr.write(`minimacllm ${name}: ${e.message} (${e.code})\n`);
      return 1;
    }
    // parseArgs errors carry ERR_PARSE_ARGS_* codes: usage mistakes, not crashes.
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`minimacllm ${name}: ${(e as Error).message}\n\n${cmd.usage}\n`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`minimacllm: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 2;
    },
  );
}
