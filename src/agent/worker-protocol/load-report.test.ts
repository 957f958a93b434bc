import { describe, expect, it } from 'vitest';
import { WorkerMessage, WorkerStatus } from '@livekit/protocol';
import { createLogger } from '../../logging.js';
import { LoadReporter, workerLoad } from './load-report.js';

const limits = { cpuThreshold: 0.75, maxVadBacklogMs: 1_000 };
const idle = { cpu: 0.1, rooms: 1, maxRooms: 8, vadBacklogMs: 40, draining: false };

describe('the in-process worker load', () => {
  it('is the larger of the CPU share and the share of room slots in use', () => {
    expect(workerLoad(idle, limits)).toEqual({ load: 0.125, full: false, reason: null });
    expect(workerLoad({ ...idle, cpu: 0.5 }, limits)).toEqual({ load: 0.5, full: false, reason: null });
  });

  it('is full at the room limit, above the CPU threshold, with a VAD behind real time, or draining', () => {
    expect(workerLoad({ ...idle, rooms: 8 }, limits)).toMatchObject({ load: 1, full: true, reason: 'rooms' });
    expect(workerLoad({ ...idle, cpu: 0.8 }, limits)).toMatchObject({ load: 0.8, full: true, reason: 'cpu' });
    expect(workerLoad({ ...idle, vadBacklogMs: 1_500 }, limits)).toMatchObject({ full: true, reason: 'vad_backlog' });
    expect(workerLoad({ ...idle, draining: true }, limits)).toMatchObject({ full: true, reason: 'draining' });
  });

  it('reports UpdateWorkerStatus with status, load and room count; headroom follows CPU and backlog only', async () => {
    const sent: WorkerMessage[] = [];
    let cpu = 0.2;
    let figures = { ...idle, rooms: 2 };
    const reporter = new LoadReporter({
      limits,
      measureCpu: async () => cpu,
      figures: () => figures,
      send: (m) => sent.push(m) > 0,
      logger: createLogger('test', 'silent'),
    });
    await reporter.report();
    expect(sent.at(-1)!.message).toEqual({ case: 'updateWorker', value: expect.objectContaining({ status: WorkerStatus.WS_AVAILABLE, load: 0.25, jobCount: 2 }) });
    expect(reporter.hasHeadroom()).toBe(true);
    cpu = 0.9;
    await reporter.report();
    expect(sent.at(-1)!.message.value).toMatchObject({ status: WorkerStatus.WS_FULL, load: 0.9 });
    expect(reporter.hasHeadroom()).toBe(false);
    // Between measures (a drain starts), the last CPU figure is reused.
    cpu = 0.1;
    figures = { ...figures, draining: true };
    await reporter.report(false);
    expect(sent.at(-1)!.message.value).toMatchObject({ status: WorkerStatus.WS_FULL, load: 0.9 });
  });
});
