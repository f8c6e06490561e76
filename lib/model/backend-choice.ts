/** Which backend a loadModel() call gets. */
import { Backend, type BackendName } from '../backend';
import { UnsupportedError } from '../errors';
import type { Log } from '../log';
import type { BackendChoice } from './options';

let warned = false;

/**
 * 'auto' is Metal where available, else the CPU. Only a Mac is expected to have Metal, so only there
 * does falling back earn a (one-time) warning; elsewhere it is a debug record.
 */
export function chooseBackend(
  choice: BackendChoice,
  log: Log,
  platform: NodeJS.Platform = process.platform,
): BackendName {
  const available = Backend.available();
  if (choice === 'auto') {
    if (available.includes('metal')) return 'metal';
    if (platform === 'darwin' && !warned && log.enabled('warn')) {
      warned = true;
      log.warn('Metal is not available on this Mac; running on the CPU backend (slower)');
    } else log.debug(`backend auto: ${platform === 'darwin' ? 'Metal unavailable, ' : ''}using the CPU backend`);
    return 'cpu';
  }
  if (!available.includes(choice)) {
    throw new UnsupportedError(
      `backend "${choice}" is not available on this machine (available: ${available.join(', ')})`,
    );
  }
  return choice;
}

/** For tests: lets the one-time warning fire again. */
export function resetBackendNotice(): void {
  warned = false;
}
