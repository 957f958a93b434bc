/**
 * The runtime image holds what the three roles run and nothing else: the Dockerfile's runtime
 * stage is rebuilt here the way it builds it (`tsc -p tsconfig.build.json`, `npm ci --omit=dev`,
 * prompts/templates/schemas beside it) in a scratch folder, then every compiled module is loaded
 * with only the production dependencies present.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));

describe('the runtime image', () => {
  let app: string;
  let files: string[];

  beforeAll(() => {
    app = mkdtempSync(join(tmpdir(), 'runtime-image-'));
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], { stdio: 'pipe' });
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(f, join(app, f));
    for (const d of ['prompts', 'templates', 'schemas']) cpSync(d, join(app, d), { recursive: true });
    // As the Dockerfile's runtime stage: production dependencies only (from npm's cache, no scripts).
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      stdio: 'pipe',
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    });
    files = walk(join(app, 'dist')).map((f) => relative(app, f));
  }, 240_000);

  afterAll(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('ships no test or demo tooling: no local services, no replay servers, no tests', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.filter((f) => /\/(local|replay)\//.test(f) || /\.test\.js$/.test(f))).toEqual([]);
    expect(files).toContain('dist/src/cli.js');
  });

  it('loads every compiled module with production dependencies only', () => {
    const modules = files.filter((f) => f.endsWith('.js') && f !== 'dist/src/cli.js');
    // One child process imports them all: a module that needs a devDependency fails to resolve.
    const script = `for (const m of ${JSON.stringify(modules)}) { try { await import('./' + m); } catch (e) { console.log(m + ': ' + e.message); process.exitCode = 1; } }`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' }, timeout: 120_000 });
    expect(run.stdout + run.stderr).not.toMatch(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  }, 150_000);

  it('starts the CLI and lists its commands', () => {
    const run = spawnSync(process.execPath, ['dist/src/cli.js', '--help'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    for (const command of ['worker', 'pipeline', 'api', 'transcribe', 'delete']) expect(run.stdout).toContain(`  ${command}`);
  });
});
