/**
 * minutes-email: one job per meeting and recipient (job id `mail_<meetingId>_<recipientKey>`).
 * The email is composed from the stored minutes.json with fresh presigned links, sent, then marked
 * sent in Redis; a retried or duplicated job sees the marker and sends nothing. See mailer.ts for
 * the one at-least-once edge.
 */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { createLogger } from '../../logging.js';
import { emailsSent } from '../../metrics.js';
import type { MeetingStore } from '../../meeting/meeting-store.js';
import type { MeetingArtifacts } from '../../storage/meeting-artifacts.js';
import { composeMinutesEmail } from '../email/compose-email.js';
import type { Mailer, SentMarkers } from '../email/mailer.js';
import { RecipientSchema } from '../email/recipients.js';
import { MinutesSchema } from '../minutes/minutes-schema.js';
import { QUEUE } from './queue-names.js';
import { crashSafeOptions, type CrashSafety } from './worker-runtime.js';

const log = createLogger('email-worker');

export const EmailJobSchema = z.object({
  meetingId: z.string(),
  recipient: RecipientSchema,
  recipientKey: z.string().regex(/^[A-Za-z0-9_-]+$/),
});
export type EmailJob = z.infer<typeof EmailJobSchema>;

/** What the email links to, in this order. */
export const LINKED_ARTEFACTS = ['minutes.md', 'transcript.md', 'transcript.vtt'] as const;

export interface EmailDeps {
  store: MeetingStore;
  artifacts: MeetingArtifacts;
  mailer: Mailer;
  sent: SentMarkers;
}

export async function sendMinutesEmail(deps: EmailDeps, job: Pick<Job, 'data' | 'id'>): Promise<{ outcome: 'sent' | 'already-sent' }> {
  const data = EmailJobSchema.parse(job.data);
  if (await deps.sent.wasSent(data.meetingId, data.recipientKey)) return { outcome: 'already-sent' };
  const raw = await deps.artifacts.read(data.meetingId, 'minutes.json');
  if (raw === null) throw new Error(`minutes of meeting ${data.meetingId} are not stored`);
  const minutes = MinutesSchema.parse(JSON.parse(raw));
  const meeting = await deps.store.get(data.meetingId);
  const links = await deps.artifacts.links(data.meetingId, LINKED_ARTEFACTS);
  const email = composeMinutesEmail({ minutes, recipientName: data.recipient.name, meetingDate: meeting?.startedAt ?? meeting?.createdAt ?? null, links });
  const { messageId } = await deps.mailer.send(data.recipient, email, { 'X-Meeting-Id': data.meetingId });
  await deps.sent.markSent(data.meetingId, data.recipientKey, messageId);
  log.info({ jobId: job.id, meetingId: data.meetingId, recipientKey: data.recipientKey, role: data.recipient.role }, 'minutes email sent');
  emailsSent.inc({ outcome: 'sent' });
  return { outcome: 'sent' };
}

export function startEmailWorker(connection: Redis, deps: EmailDeps, crash: CrashSafety): Worker {
  const worker = new Worker(QUEUE.email, (job) => sendMinutesEmail(deps, job), {
    connection,
    concurrency: 4,
    // SMTP relays throttle bursts; ten a second is polite for a meeting's worth of recipients.
    limiter: { max: 10, duration: 1000 },
    ...crashSafeOptions(crash),
  });
  worker.on('failed', () => emailsSent.inc({ outcome: 'failed' }));
  return worker;
}
