/**
 * Errors in OpenAI's shape (`{ error: { message, type, param, code } }`) with
 * their HTTP status, and the mapping of library errors onto them.
 */
import { MiniMacLLMError } from '../errors';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'unavailable_error';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  body(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the request field at fault. */
export const badParam = (param: string, message: string, code: string | null = 'invalid_value'): HttpError =>
  new HttpError(400, message, 'invalid_request_error', param, code);

/** The HTTP error for anything a handler throws (library errors keep their message). */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof MiniMacLLMError) {
    switch (e.code) {
      case 'ERR_INVALID_ARG':
        return new HttpError(400, e.message, 'invalid_request_error', null, 'invalid_value');
      case 'ERR_UNSUPPORTED':
        return new HttpError(400, e.message, 'invalid_request_error', null, 'unsupported');
      case 'ERR_CONTEXT_OVERFLOW':
        return new HttpError(400, e.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
      case 'ERR_DISPOSED':
        return new HttpError(503, 'the server is shutting down', 'unavailable_error', null, 'shutting_down');
      default:
        return new HttpError(500, e.message, 'server_error', null, e.code);
    }
  }
  return new HttpError(500, 'internal error', 'server_error', null, 'internal_error');
}
