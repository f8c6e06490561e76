/**
 * Output of the CLI when its reader goes away (`minimacllm generate | head`):
 * a write to a closed pipe fails with EPIPE, emitted as an 'error' event that
 * would otherwise kill the process with a stack trace. Here it marks stdout
 * closed and tells whoever listens (a running generation aborts), so the
 * command ends quietly.
 */

let closed = false;
let installed = false;
const listeners = new Set<() => void>();

// EPIPE mostly; any other write error (EIO on a vanished terminal) leaves stdout as unusable.
function onError(): void {
  if (closed) return;
  closed = true;
  for (const l of [...listeners]) l();
}

/** Installs the EPIPE handler on stdout (idempotent). */
export function guardStdout(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', onError);
}

/** Whether stdout's reader has gone away. */
export function stdoutClosed(): boolean {
  return closed;
}

/** Writes to stdout unless it is closed. */
export function out(text: string): void {
  if (!closed && text.length > 0) process.stdout.write(text);
}

/** Calls `fn` once stdout closes; returns the function that unregisters it. */
export function onStdoutClosed(fn: () => void): () => void {
  if (closed) {
    fn();
    return () => undefined;
  }
  listeners.add(fn);
  return () => listeners.delete(fn);
}
