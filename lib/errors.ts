/**
 * Every error minimacllm throws is a MiniMacLLMError with a stable `code`.
 * Native errors arrive as plain Errors carrying `code`; `fromNative` maps them
 * onto the same classes so callers can rely on `instanceof` and `code` alike.
 */
export type ErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_UNSUPPORTED'
  | 'ERR_UNSUPPORTED_ARCH'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_BAD_MODEL'
  | 'ERR_CHECKSUM'
  | 'ERR_IO'
  | 'ERR_DISPOSED'
  | 'ERR_CONTEXT_OVERFLOW'
  | 'ERR_ABORTED'
  | 'ERR_AUTH'
  | 'ERR_NOT_FOUND'
  | 'ERR_NETWORK'
  | 'ERR_NATIVE_UNAVAILABLE'
  | 'ERR_INTERNAL';

export class MiniMacLLMError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_INVALID_ARG', message);
  }
}
export class UnsupportedError extends MiniMacLLMError {
  constructor(message: string, code: 'ERR_UNSUPPORTED' | 'ERR_UNSUPPORTED_ARCH' = 'ERR_UNSUPPORTED') {
    super(code, message);
  }
}
export class OutOfMemoryError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_OUT_OF_MEMORY', message);
  }
}
export class BadModelError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_BAD_MODEL', message);
  }
}
export class ChecksumError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_CHECKSUM', message);
  }
}
export class IOError extends MiniMacLLMError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_IO', message, options);
  }
}
export class DisposedError extends MiniMacLLMError {
  constructor(what: string) {
    super('ERR_DISPOSED', `${what} has been disposed`);
  }
}
export class ContextOverflowError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_CONTEXT_OVERFLOW', message);
  }
}
export class AbortError extends MiniMacLLMError {
  constructor(message = 'the operation was aborted') {
    super('ERR_ABORTED', message);
  }
}
/** The Hugging Face Hub refused access (gated or private repo, bad token). */
export class AuthError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_AUTH', message);
  }
}
/** A repo, revision, file or quant that does not exist (or is not cached, offline). */
export class NotFoundError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}
/** The network failed (connection, timeout, server error) after bounded retries. */
export class NetworkError extends MiniMacLLMError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NETWORK', message, options);
  }
}
/** The native addon is missing or cannot load here (no prebuild and no successful build, or a wrong binary). */
export class NativeUnavailableError extends MiniMacLLMError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NATIVE_UNAVAILABLE', message, options);
  }
}
export class InternalError extends MiniMacLLMError {
  constructor(message: string) {
    super('ERR_INTERNAL', message);
  }
}

const classByCode: Record<string, (m: string) => MiniMacLLMError> = {
  ERR_INVALID_ARG: (m) => new InvalidArgumentError(m),
  ERR_UNSUPPORTED: (m) => new UnsupportedError(m),
  ERR_UNSUPPORTED_ARCH: (m) => new UnsupportedError(m, 'ERR_UNSUPPORTED_ARCH'),
  ERR_OUT_OF_MEMORY: (m) => new OutOfMemoryError(m),
  ERR_BAD_MODEL: (m) => new BadModelError(m),
  ERR_IO: (m) => new IOError(m),
  ERR_DISPOSED: (m) => new MiniMacLLMError('ERR_DISPOSED', m),
  ERR_CONTEXT_OVERFLOW: (m) => new ContextOverflowError(m),
  ERR_ABORTED: (m) => new AbortError(m),
};

/** A short rendering of any value for an error message; never throws (Symbols, null-prototype objects, detached arrays). */
export function showValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'an array';
      if (ArrayBuffer.isView(v))
        return `a ${(Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'typed array'}`;
      return 'an object';
  }
}

/** Turns an error thrown by the native addon into the matching MiniMacLLMError. */
export function fromNative(e: unknown): MiniMacLLMError {
  if (e instanceof MiniMacLLMError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const make = typeof err?.code === 'string' ? classByCode[err.code] : undefined;
  return make ? make(message) : new InternalError(message);
}

/** Runs `fn`, rethrowing native errors as MiniMacLLMErrors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/** Awaits a native promise, rethrowing its rejection as a MiniMacLLMError. */
export async function awaitNative<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw fromNative(e);
  }
}
