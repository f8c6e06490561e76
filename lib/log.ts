/**
 * Where the library's notices go. Nothing in lib/ writes to the console directly: notices go
 * through a Log, which sends them to the model's `logger` option, else the one given to
 * setLogger(), else stderr (warnings and errors only).
 */
import { InvalidArgumentError } from './errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** A function sink: gets each record's level and message (without the "minimacllm: " prefix). */
export type LogFunction = (level: LogLevel, message: string) => void;
/** An object with console-style methods: `console`, a pino or winston logger, … (called as methods). */
export type ConsoleLike = { [K in LogLevel]: (message: string) => void };

export interface Logger {
  /** The least severe level delivered: 'debug' | 'info' | 'warn' (default) | 'error' | 'silent' (nothing). */
  level?: LogLevel | 'silent';
  /** Where records go (default: stderr, as `minimacllm: message`). */
  sink?: LogFunction | ConsoleLike;
}

const showValue = (v: unknown): string =>
  typeof v === 'string'
    ? JSON.stringify(v)
    : typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : v === null
        ? 'null'
        : `a ${typeof v}`;

const RANK: Record<LogLevel | 'silent', number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

const stderrSink: LogFunction = (_level, message) => {
  process.stderr.write(`minimacllm: ${message}\n`);
};

/** Checks a user's logger (the `logger` option or setLogger's argument) with precise messages. */
export function checkLogger(v: unknown, what = 'logger'): Logger | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError(`${what} must be an object { level?, sink? }, got ${showValue(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (k !== 'level' && k !== 'sink' && o[k] !== undefined)
      throw new InvalidArgumentError(`unknown ${what} option "${k}"`);
  const level = o['level'];
  if (level !== undefined && !(typeof level === 'string' && level in RANK))
    throw new InvalidArgumentError(
      `${what}.level must be one of ${Object.keys(RANK).join(', ')}, got ${showValue(level)}`,
    );
  const sink = o['sink'];
  if (sink !== undefined && typeof sink !== 'function') {
    const methods = sink !== null && typeof sink === 'object' ? (sink as Record<string, unknown>) : undefined;
    const missing = LOG_LEVELS.filter((l) => typeof methods?.[l] !== 'function');
    if (!methods || missing.length > 0)
      throw new InvalidArgumentError(
        `${what}.sink must be a function (level, message) or an object with ${LOG_LEVELS.join('/')} methods, ` +
          (methods ? `missing ${missing.join(', ')}` : `got ${showValue(sink)}`),
      );
  }
  return {
    ...(level !== undefined ? { level: level as Logger['level'] } : {}),
    ...(sink ? { sink: sink as Logger['sink'] } : {}),
  };
}

let moduleLogger: Logger | undefined;

/**
 * Sets where notices of models without their own `logger` option go (and those outside any model);
 * `setLogger()` or `setLogger(undefined)` restores the default (warnings and errors on stderr).
 */
export function setLogger(logger?: Logger): void {
  moduleLogger = checkLogger(logger);
}

/** A source of notices: a model's (its `logger` option, `quiet`) or the library's. */
export class Log {
  readonly #own: Logger | undefined;
  readonly #quiet: boolean;
  /** `quiet` drops debug, info and warn records (errors still go out). */
  constructor(own?: Logger, quiet = false) {
    this.#own = own;
    this.#quiet = quiet;
  }
  debug(message: string): void {
    this.#emit('debug', message);
  }
  info(message: string): void {
    this.#emit('info', message);
  }
  warn(message: string): void {
    this.#emit('warn', message);
  }
  error(message: string): void {
    this.#emit('error', message);
  }
  /** Whether a record at `level` would be delivered (skip building costly messages). */
  enabled(level: LogLevel): boolean {
    if (this.#quiet && level !== 'error') return false;
    const l = this.#own ?? moduleLogger;
    return RANK[level] >= RANK[l?.level ?? 'warn'];
  }
  #emit(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    const sink = (this.#own ?? moduleLogger)?.sink ?? stderrSink;
    // A logger that throws must not break loading or generation.
    try {
      if (typeof sink === 'function') sink(level, message);
      else sink[level](message);
    } catch {
      /* ignored */
    }
  }
}

/** The library's own notices outside any model. */
export const libraryLog = new Log();
