/** Which backend a loadModel() call gets. */
import { Backend, type BackendName } from '../backend';
import { UnsupportedError } from '../errors';
import type { BackendChoice } from './options';

let warned = false;

export function chooseBackend(choice: BackendChoice, quiet: boolean): BackendName {
  const available = Backend.available();
  if (choice === 'auto') {
    if (available.includes('metal')) return 'metal';
    if (!warned && !quiet && !process.env['MINIMACLLM_QUIET']) {
      warned = true;
      console.warn(
        "minimacllm: Metal is not available on this machine; running on the CPU backend (pass backend: 'cpu' or quiet: true to silence)",
      );
    }
    return 'cpu';
  }
  if (!available.includes(choice)) {
    throw new UnsupportedError(
      `backend "${choice}" is not available on this machine (available: ${available.join(', ')})`,
    );
  }
  return choice;
}
