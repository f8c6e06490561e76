/**
 * How long the event loop is blocked while some work runs, measured by a 5 ms
 * interval. On Linux each gap between ticks is also charged with the CPU time
 * the main thread itself used in it (/proc/self/task/<pid>/schedstat, in ns):
 * on a loaded shared machine a gap can last 100 ms because the process was not
 * scheduled, which is not the code blocking; CPU time tells the two apart.
 */
import * as fs from 'node:fs';

export interface Stall {
  /** Longest wall-clock gap between ticks (ms). */
  wallMs: number;
  /** Most main-thread CPU used within one gap (ms); NaN where the OS cannot say. */
  cpuMs: number;
  /** The measure to assert on: cpuMs where available, else wallMs. */
  blockedMs: number;
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

function mainThreadCpuNs(): number {
  try {
    return Number(fs.readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

export async function measureStall(work: () => Promise<unknown>): Promise<Stall> {
  let lastWall = performance.now();
  let lastCpu = mainThreadCpuNs();
  let wallMs = 0;
  let cpuMs = Number.isNaN(lastCpu) ? NaN : 0;
  const tick = (): void => {
    const wall = performance.now();
    const cpu = mainThreadCpuNs();
    wallMs = Math.max(wallMs, wall - lastWall);
    if (!Number.isNaN(cpu)) cpuMs = Math.max(cpuMs, (cpu - lastCpu) / 1e6);
    lastWall = wall;
    lastCpu = cpu;
  };
  const timer = setInterval(tick, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
    tick();
  }
  return { wallMs, cpuMs, blockedMs: Number.isNaN(cpuMs) ? wallMs : cpuMs };
}

/**
 * The least blocking of `runs` runs of `work` (a fresh run each time). A pause that is not the code's own
 * (a GC of the test process's heap, which other tests filled) lands in some runs, not all; a block that the
 * code makes is in every run. For bounds that must hold on a loaded machine yet fail on code that doesn't slice.
 */
export async function leastStall(runs: number, work: () => Promise<unknown>): Promise<Stall> {
  let best: Stall | undefined;
  for (let i = 0; i < runs; i++) {
    const s = await measureStall(work);
    if (!best || s.blockedMs < best.blockedMs) best = s;
  }
  return best!;
}
