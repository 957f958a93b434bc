import { defineConfig } from 'vitest/config';

// Tests that play audio through LiveKit in real time (the agent, the demo) need the machine's two
// cores to themselves: run alongside other files, the VAD falls behind real time and utterances
// are lost. They run after the rest, one file at a time.
const REALTIME = ['test/agent/**/*.test.ts', 'test/demo/**/*.test.ts', 'test/smoke/livekit.test.ts'];

export default defineConfig({
  test: {
    // Real LiveKit, Redis, MinIO are started once per project (see test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // An unhandled rejection (e.g. VADStream.endInput) must fail the run, not vanish.
    dangerouslyIgnoreUnhandledErrors: false,
    projects: [
      {
        extends: true,
        test: { name: 'services', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: REALTIME, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'realtime', include: REALTIME, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
