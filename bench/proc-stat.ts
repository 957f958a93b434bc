/** Reading /proc/<pid>/stat (Linux), for the benchmarks' CPU and process-tree figures. */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The fields after the command name, which may itself hold spaces and parentheses: index 0 is the
 * state, 1 the parent pid, 13 and 14 the CPU ticks of reaped children (cutime, cstime).
 */
export function procStatFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Resident memory (MB) of a process, from /proc; 0 when it is gone. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The direct children of a process. */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(procStatFields(Number(d))[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The p-th percentile (nearest rank) of some values; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
