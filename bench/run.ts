/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process, one after another (they measure
 * CPU and memory, so they must not share the machine with each other), and prints each one's report.
 * `npm run bench -- agent` runs only the benchmarks whose file name contains "agent".
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const filter = process.argv[2];
const files = readdirSync('bench')
  .filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches ${filter ?? '*'} in bench/`);
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file} (${new Date().toISOString()}, node ${process.version})`);
  // NODE_ENV=production: rtc-node logs every frame callback at debug level otherwise.
  const result = spawnSync(process.execPath, ['--import', 'tsx', join('bench', file)], { stdio: 'inherit', env: { NODE_ENV: 'production', ...process.env } });
  if (result.status !== 0) {
    failed++;
    console.error(`${file} failed with exit code ${result.status}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
