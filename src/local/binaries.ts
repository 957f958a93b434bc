import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Where scripts/install-deps.sh puts the Go-built servers (LiveKit, MinIO). */
export const TOOLS_DIR = process.env.MEETING_AGENT_TOOLS ?? join(homedir(), '.cache', 'meeting-agent', 'bin');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a program: an explicit override first, then the project's tools folder, then PATH.
 * Fails with the command that installs it, so a newcomer is never left guessing.
 */
export function findBinary(names: readonly string[], override?: string): string {
  if (override) {
    if (isExecutable(override)) return override;
    throw new Error(`${override} is not an executable file`);
  }
  const dirs = [TOOLS_DIR, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new Error(
    `${names[0]} was not found in ${TOOLS_DIR} or on PATH. Run "bash scripts/install-deps.sh" to install it.`,
  );
}
