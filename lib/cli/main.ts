#!/usr/bin/env node
/**
 * minimacllm command line. Subcommands live one per file and are listed in
 * COMMANDS; each parses its own arguments (node:util parseArgs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createColors } from 'picocolors';
import { MiniMacLLMError } from '../errors';
import { setLogger } from '../log';
import { chatCommand } from './chat';
import type { Command } from './command';
import { convertCommand } from './convert';
import { embedCommand } from './embed';
import { generateCommand } from './generate';
import { inspectCommand } from './inspect';
import { lsCommand } from './ls';
import { perplexityCommand } from './perplexity';
import { useColor } from './progress';
import { pullCommand } from './pull';
import { rmCommand } from './rm';
import { serveCommand } from './serve';
import { guardStdout, out } from './stdout';

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
  serve: serveCommand,
};

/** Global flags, accepted anywhere before `--`. */
const GLOBAL_USAGE = `global options:
  -h, --help       this text (minimacllm <command> --help: the command's options)
  -v, --version    print the version
  --verbose        library debug notices, and stack traces with errors

exit status: 0 done, 1 failed (the error's code: message on stderr), 2 usage error`;

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: minimacllm <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n${GLOBAL_USAGE}`;
}

/** package.json's version (one level above lib/ or dist/, like the embedded model). */
export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Usage mistakes (exit 2): bad or missing arguments, whether caught by parseArgs or by the library's checks. */
function isUsageError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'ERR_INVALID_ARG' || code.startsWith('ERR_PARSE_ARGS'));
}

/** `code: message` for errors with a code; an unexpected error's class name otherwise. */
function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${e.message}` : `${e.name}: ${e.message}`;
}

/** The stack, and the causes' stacks, for --verbose. */
function stackOf(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; depth++) {
    parts.push(c instanceof Error ? (c.stack ?? c.message) : typeof c === 'string' ? c : 'a non-Error value');
    c = c instanceof Error ? c.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

/** Reports an error the way a command-line user wants it; returns the exit status (1 runtime, 2 usage). */
export function reportError(e: unknown, command: string | undefined, verbose: boolean): number {
  const c = createColors(useColor(process.stderr));
  const who = command ? `minimacllm ${command}` : 'minimacllm';
  if (isUsageError(e)) {
    process.stderr.write(`${who}: ${(e as Error).message}\n`);
    process.stderr.write(`${c.dim(`see: ${who} --help`)}\n`);
    return 2;
  }
  process.stderr.write(`${who}: ${c.red(describeError(e))}\n`);
  if (verbose) process.stderr.write(`${stackOf(e)}\n`);
  else if (!(e instanceof MiniMacLLMError)) process.stderr.write(`${c.dim('(--verbose for the stack trace)')}\n`);
  return 1;
}

/** Splits off the global flags (before any `--`). */
function globalFlags(argv: string[]): { args: string[]; verbose: boolean } {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end);
  return { args: [...head.filter((a) => a !== '--verbose'), ...tail], verbose: head.includes('--verbose') };
}

export async function main(argv: string[]): Promise<number> {
  guardStdout();
  const { args, verbose } = globalFlags(argv);
  if (verbose) setLogger({ level: 'debug' });
  const [name, ...rest] = args;
  if (name === '--version' || name === '-v') {
    out(`${packageVersion()}\n`);
    return 0;
  }
  if (name === '--help' || name === '-h') {
    out(`${usage()}\n`);
    return 0;
  }
  if (name === 'help') {
    const topic = rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    out(`${topic ? topic.usage : usage()}\n`);
    return 0;
  }
  if (name === undefined) {
    process.stderr.write(`minimacllm: a command is required\n\n${usage()}\n`);
    return 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(
      `minimacllm: unknown ${name.startsWith('-') ? 'option' : 'command'} "${name}"\n\n${usage()}\n`,
    );
    return 2;
  }
  const own = rest.indexOf('--');
  const flags = own < 0 ? rest : rest.slice(0, own);
  if (flags.includes('--help') || flags.includes('-h')) {
    out(`${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    return reportError(e, name, verbose);
  }
}

if (require.main === module) {
  const verbose = process.argv.includes('--verbose');
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportError(e, undefined, verbose);
    },
  );
}
