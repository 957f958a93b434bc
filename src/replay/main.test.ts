import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

describe('replay CLI (src/replay/main.ts)', () => {
  it('prints the URL of a server that answers, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/replay/main.ts', '--provider', 'mistral', '--port', '0', '--fault', '{"route":"mistral.chat","status":503,"times":1}'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const stats = (await (await fetch(`${url}/__replay/stats`)).json()) as { calls: Record<string, number> };
    expect(stats.calls).toEqual({});
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: '{}' });
    expect(res.status).toBe(503); // the --fault given on the command line
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('refuses an unknown provider with a usage message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/replay/main.ts', '--provider', 'azure'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/--provider must be openai or mistral/);
  });
});
