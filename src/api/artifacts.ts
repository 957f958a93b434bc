/**
 * A meeting's files and data as the API needs them: presigned links to hand out once the meeting
 * is done, and erasure. The S3 layout belongs to src/storage/meeting-artifacts.ts and erasure to
 * src/pipelines/erase-meeting.ts (shared with `meeting-agent delete`); this is the narrow view the
 * routes depend on.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { eraseMeeting } from '../pipelines/erase-meeting.js';
import { ARTEFACT_NAMES, type ArtefactName, type MeetingArtifacts as ArtefactStore } from '../storage/meeting-artifacts.js';
import type { ArtifactLink } from './schemas.js';

export interface MeetingArtifacts {
  /** Presigned GET links to the meeting's deliverables (transcripts, minutes), sorted by name. */
  links(meetingId: string): Promise<ArtifactLink[]>;
  /**
   * Erases the meeting's objects, Redis keys, queue jobs and their event-stream entries, and counts
   * what was removed. `activeJobs`: jobs running right now, which could not be removed.
   */
  erase(meetingId: string): Promise<{ objects: number; redisKeys: number; jobs: number; queueEvents: number; activeJobs: number }>;
}

const DELIVERABLES = new Set<string>(ARTEFACT_NAMES);

export function meetingArtifacts(
  store: ArtefactStore,
  redis: { connection: Redis; queues: { segments: Queue; deferredStt: Queue; finalize: Queue; email: Queue } },
): MeetingArtifacts {
  return {
    async links(meetingId) {
      // The manifest is written last and lists what was stored, with sizes and checksums. Without
      // one (an older layout, a partial write), link whatever deliverables are there.
      const manifest = await store.manifest(meetingId);
      const files = manifest
        ? manifest.files.filter((f) => DELIVERABLES.has(f.name)).map((f) => ({ name: f.name as ArtefactName, size: f.bytes, contentType: f.contentType, sha256: f.sha256 }))
        : (await store.list(meetingId))
            .map((key) => key.slice(store.meetingPrefix(meetingId).length))
            .filter((name): name is ArtefactName => DELIVERABLES.has(name))
            .map((name) => ({ name, size: null, contentType: null, sha256: null }));
      const links = await store.links(meetingId, files.map((f) => f.name));
      return files
        .map((f, i) => ({ ...f, url: links[i]!.url, expiresAt: links[i]!.expiresAt }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },
    async erase(meetingId) {
      const report = await eraseMeeting(meetingId, store, redis);
      return { objects: report.objects.length, redisKeys: report.redisKeys, jobs: report.jobs, queueEvents: report.queueEvents, activeJobs: report.activeJobs };
    },
  };
}
