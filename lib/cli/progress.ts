/**
 * Progress output for long CLI jobs: a redrawn bar on a terminal (cli-progress), plain lines every
 * few seconds when stderr is a file or pipe, colours only on a terminal and never under NO_COLOR.
 */
import { SingleBar } from 'cli-progress';
import { createColors } from 'picocolors';
import type { DownloadProgress } from '../hub/download';

type Env = Record<string, string | undefined>;
type Stream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Colours on a terminal unless NO_COLOR is set (non-empty) or TERM is dumb; FORCE_COLOR forces them. */
export function useColor(stream: Stream, env: Env = process.env): boolean {
  if (env['NO_COLOR']) return false;
  if (env['FORCE_COLOR'] && env['FORCE_COLOR'] !== '0') return true;
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

interface Payload {
  file: string;
  step: string;
  rate: number;
}

/**
 * A download progress display for `onProgress` events: one bar per file (`[i/n] file`), size,
 * percent, speed, ETA. `done()` ends the last bar.
 */
export function downloadProgress(
  stream: Stream = process.stderr,
  env: Env = process.env,
): { onProgress: (p: DownloadProgress) => void; done: () => void } {
  const tty = stream.isTTY === true;
  const c = createColors(useColor(stream, env));
  const width = (): number => Math.max(40, Math.min(stream.columns ?? 100, 160));
  const bar = new SingleBar({
    stream,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    fps: 10,
    hideCursor: tty,
    gracefulExit: true,
    format: (_opts, params, payload: Payload) => {
      const { value, total } = params;
      const pct = total > 0 ? Math.floor((value / total) * 100) : 100;
      const eta = payload.rate > 0 ? formatDuration((total - value) / payload.rate) : '--';
      const stats = `${String(pct).padStart(3)}%  ${formatBytes(value)}/${formatBytes(total)}  ${formatBytes(Math.round(payload.rate))}/s  ETA ${eta}`;
      const name = `${payload.step}${payload.file}`;
      if (!tty) return `${name}  ${stats}`;
      const room = width() - stats.length - 4;
      const shown = name.length > room * 0.5 ? `…${name.slice(-Math.max(8, Math.floor(room * 0.5) - 1))}` : name;
      const size = Math.max(10, room - shown.length);
      const full = total > 0 ? Math.round((value / total) * size) : size;
      return `${c.bold(shown)} ${c.cyan('█'.repeat(full))}${c.dim('░'.repeat(size - full))} ${stats}`;
    },
  });
  let current: string | undefined;
  return {
    onProgress(p) {
      const key = `${p.fileIndex}:${p.file}`;
      const payload: Payload = {
        file: p.file,
        step: p.fileCount > 1 ? `[${p.fileIndex}/${p.fileCount}] ` : '',
        rate: p.bytesPerSecond,
      };
      if (key !== current) {
        if (current !== undefined) bar.stop();
        current = key;
        bar.start(p.totalBytes, p.downloadedBytes, payload);
      } else {
        bar.update(p.downloadedBytes, payload);
      }
    },
    done() {
      if (current !== undefined) bar.stop();
      current = undefined;
    },
  };
}

/**
 * A progress display for counted steps (tensors converted, perplexity windows): a redrawn bar with
 * a count, percent, ETA and a detail (the current tensor, the running perplexity) on a terminal;
 * a plain line every 2 s, and at the end, otherwise. `done()` ends it.
 */
export function stepProgress(
  title: string,
  stream: Stream = process.stderr,
  env: Env = process.env,
): { update: (done: number, total: number, detail: string) => void; done: () => void } {
  const tty = stream.isTTY === true;
  const c = createColors(useColor(stream, env));
  const width = (): number => Math.max(40, Math.min(stream.columns ?? 100, 160));
  const started = Date.now();
  const bar = new SingleBar({
    stream,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    fps: 10,
    // No SIGINT handler of its own (gracefulExit): Ctrl-C keeps its meaning for the command; so the
    // cursor is never hidden (nothing to restore).
    hideCursor: false,
    gracefulExit: false,
    // In a pipe the last line already ends the output (cli-progress would add an empty line).
    clearOnComplete: !tty,
    format: (_opts, params, payload: { detail: string }) => {
      const { value, total } = params;
      const pct = total > 0 ? Math.floor((value / total) * 100) : 100;
      const elapsed = (Date.now() - started) / 1000;
      const eta = value > 0 && value < total ? formatDuration((elapsed / value) * (total - value)) : '--';
      const stats = `[${value}/${total}] ${String(pct).padStart(3)}%  ETA ${eta}`;
      if (!tty) return `${title} ${stats}  ${payload.detail}`;
      const room = width() - title.length - stats.length - 4;
      const size = Math.max(10, Math.floor(room * 0.4));
      const full = total > 0 ? Math.round((value / total) * size) : size;
      const detailRoom = room - size;
      const detail =
        payload.detail.length <= detailRoom
          ? payload.detail
          : detailRoom > 4
            ? `…${payload.detail.slice(-(detailRoom - 1))}`
            : '';
      return `${c.bold(title)} ${c.cyan('█'.repeat(full))}${c.dim('░'.repeat(size - full))} ${stats} ${c.dim(detail)}`;
    },
  });
  let running = false;
  return {
    update(done, total, detail) {
      if (!running) {
        running = true;
        bar.start(total, done, { detail });
      } else {
        bar.setTotal(total);
        bar.update(done, { detail });
      }
    },
    done() {
      if (running) bar.stop();
      running = false;
    },
  };
}
