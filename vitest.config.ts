import { defineConfig } from 'vitest/config';

// Tests that play audio through LiveKit in real time (the agent, the demo) run after the rest, two
// files at a time: each is bound by the clock (a meeting lasts as long as it lasts), not by the CPU.
// They used to need the two cores to themselves (a busy VAD lost utterances, the replay double
// refused gapped uploads); since TrackClock and the elastic replay matcher (issue 11) they pass
// with a CPU hog on one core, and two at a time take ~300 s instead of ~650 s.
const REALTIME = ['test/agent/**/*.test.ts', 'test/demo/**/*.test.ts', 'test/smoke/livekit.test.ts'];
// The in-process worker (WORKER_EXECUTOR=in-process, off by default, issue #18) has its own
// real-time file (about 165 s: three rooms, a fault, a crash recovered by the API, a drain): it runs
// with TEST_IN_PROCESS_WORKER=1 (and in the soak with it set), not in the default `npm test`, where
// it would add ~100 s and put three rooms of bots beside another real-time file on 2 cores.
const OPT_IN = process.env.TEST_IN_PROCESS_WORKER === '1' ? [] : ['test/agent/rooms-in-process.test.ts'];

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
        test: { name: 'realtime', include: REALTIME, exclude: OPT_IN, fileParallelism: true, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
