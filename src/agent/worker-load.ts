/**
 * The worker's load as LiveKit's dispatcher sees it: the CPU used by this worker and its job
 * processes, as a share of the machine's cores (Linux /proc). System-wide CPU (the framework's
 * default) would make the worker refuse rooms because a neighbour on the box (the LiveKit server,
 * a test run) is busy, even with its own rooms keeping up. Elsewhere: the load average per core.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime+stime (ticks) of a process, and its parent pid; null when it is gone. */
function stat(pid: number): { ppid: number; ticks: number } | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces: fields start after the last ')'.
    const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/** CPU ticks of this process and its direct children (the job processes). */
function treeTicks(root: number): number {
  let ticks = stat(root)?.ticks ?? 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s && s.ppid === root) ticks += s.ticks;
  }
  return ticks;
}

/** Returns a load function (0..1) suitable for ServerOptions.loadFunc. */
export function createWorkerLoad(): () => Promise<number> {
  const cores = availableParallelism();
  if (process.platform !== 'linux') return async () => Math.min(1, (loadavg()[0] ?? 0) / cores);
  let last = { at: performance.now(), ticks: treeTicks(process.pid) };
  return async () => {
    const now = { at: performance.now(), ticks: treeTicks(process.pid) };
    const seconds = (now.at - last.at) / 1000;
    // Children that exited take their ticks with them: never report a negative load.
    const used = Math.max(0, now.ticks - last.ticks) / TICKS_PER_SECOND;
    last = now;
    return seconds > 0 ? Math.min(1, used / seconds / cores) : 0;
  };
}
