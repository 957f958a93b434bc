/**
 * Metrics that describe the whole deployment rather than this process, read from Redis when
 * Prometheus scrapes: queue depths (BullMQ) and meetings being transcribed (meeting store).
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MeetingStore } from '../meeting/meeting-store.js';
import { roomKeys } from '../meeting/redis-keys.js';
import { queueDepth, transcriptionsActive } from '../metrics.js';
import { openQueue, QUEUE } from '../pipelines/queues/queues.js';
import { stateOf } from './transcriptions.js';

const ROOM_CLAIMS = roomKeys.claimPattern;
const STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children'] as const;

export class ClusterMetrics {
  readonly #queues: Queue[];

  constructor(
    private readonly redis: Redis,
    private readonly store: MeetingStore,
  ) {
    this.#queues = Object.values(QUEUE).map((name) => openQueue(name, redis));
  }

  /** Refreshes the gauges; called right before the registry is serialised. */
  async refresh(): Promise<void> {
    await Promise.all([this.#queueDepths(), this.#active()]);
  }

  async #queueDepths(): Promise<void> {
    for (const q of this.#queues) {
      const counts = await q.getJobCounts(...STATES);
      queueDepth.set({ queue: q.name, state: 'waiting' }, (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts['waiting-children'] ?? 0));
      for (const state of ['active', 'delayed', 'failed'] as const) queueDepth.set({ queue: q.name, state }, counts[state] ?? 0);
    }
  }

  async #active(): Promise<void> {
    let active = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', ROOM_CLAIMS, 'COUNT', 500);
      cursor = next;
      const ids = keys.length ? await this.redis.mget(...keys) : [];
      for (const id of ids) {
        const info = id ? await this.store.get(id).catch(() => null) : null;
        if (info && stateOf(info) === 'active') active++;
      }
    } while (cursor !== '0');
    transcriptionsActive.set(active);
  }

  async close(): Promise<void> {
    await Promise.all(this.#queues.map((q) => q.close()));
  }
}
