import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Real LiveKit, Redis, MinIO are started once for the whole run (see test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files run in parallel in forks, but a LiveKit room test is heavy.
    pool: 'forks',
    maxWorkers: 2,
    // An unhandled rejection (e.g. VADStream.endInput) must fail the run, not vanish.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
