import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** The process's stdout and stderr go here, never to the caller's console. */
  logFile: string;
  /** Resolves true once the service answers. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

/** A local server started for tests, benchmarks or the demo; stopped with SIGTERM, then SIGKILL. */
export class ManagedProcess {
  private exited = false;
  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    child.once('exit', () => {
      this.exited = true;
    });
  }

  static async start(options: ManagedProcessOptions): Promise<ManagedProcess> {
    mkdirSync(dirname(options.logFile), { recursive: true });
    const log = createWriteStream(options.logFile, { flags: 'a' });
    const child = spawn(options.command, [...options.args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const managed = new ManagedProcess(options.name, child, options.logFile);
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));

    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`${options.name} could not be started: ${spawnError.message}`);
      if (managed.exited) {
        throw new Error(`${options.name} exited at start (exit code ${child.exitCode}); see ${options.logFile}`);
      }
      if (await options.ready().catch(() => false)) return managed;
      await sleep(100);
    }
    await managed.stop();
    throw new Error(`${options.name} did not become ready in time; see ${options.logFile}`);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Kills at once, as a crash would (for tests of what survives a dead service). */
  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
