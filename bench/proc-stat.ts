/** Reading /proc/<pid>/stat (Linux), for the benchmarks' CPU and process-tree figures. */
import { readFileSync } from 'node:fs';

/**
 * The fields after the command name, which may itself hold spaces and parentheses: index 0 is the
 * state, 1 the parent pid, 13 and 14 the CPU ticks of reaped children (cutime, cstime).
 */
export function procStatFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
