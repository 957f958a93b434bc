/**
 * minutes-email: one job per meeting and recipient (job id `mail_<meetingId>_<recipientKey>`).
 * The email is composed from the stored minutes.json with fresh presigned links, sent, then marked
 * sent in Redis; a retried or duplicated job sees the marker and sends nothing. See mailer.ts for
 * the one at-least-once edge.
 *
 * Every recipient is handled on their own, and the outcome recorded on the meeting (Delivery):
 * an address the SMTP server refuses for good (5xx: no such mailbox...) is recorded `refused` with
 * the server's reply and not tried again; a temporary failure (4xx, a dropped connection) throws,
 * so the job is retried (EMAIL_JOB_OPTIONS), and is recorded `failed` after its last attempt. The
 * other recipients' jobs are not affected either way.
 */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createLogger } from '../../logging.js';
import { emailsSent } from '../../metrics.js';
import type { MeetingStateStore } from '../../meeting/meeting-store.js';
import type { ArtefactStore } from '../../storage/meeting-artifacts.js';
import { composeMinutesEmail } from '../email/compose-email.js';
import { SmtpTemporaryError, smtpFailure, type Mailer, type SentMarkers } from '../email/mailer.js';
import { MinutesSchema } from '../minutes/minutes-schema.js';
import { EmailJobSchema, QUEUE } from './queues.js';
import { crashSafeOptions, type CrashSafety } from './worker-runtime.js';

const log = createLogger('email-worker');

/** What the email links to, in this order. */
export const LINKED_ARTEFACTS = ['minutes.md', 'transcript.md', 'transcript.vtt'] as const;

export interface EmailDeps {
  store: MeetingStateStore;
  artifacts: ArtefactStore;
  mailer: Mailer;
  sent: Pick<SentMarkers, 'wasSent' | 'markSent'>;
}

/**
 * Sends one recipient's minutes. The result (BullMQ keeps it as the job's return value and in the
 * queue's event stream) is the outcome only: the server's reply, which may quote the address, is
 * recorded on the meeting's delivery, which erasure and retention reach.
 */
export async function sendMinutesEmail(deps: EmailDeps, job: Pick<Job, 'data' | 'id'>): Promise<{ outcome: 'sent' | 'already-sent' | 'refused' }> {
  const data = EmailJobSchema.parse(job.data);
  if (await deps.sent.wasSent(data.meetingId, data.recipientKey)) return { outcome: 'already-sent' };
  const previous = (await deps.store.deliveries(data.meetingId))[data.recipientKey];
  if (previous?.outcome === 'refused') return { outcome: 'refused' };
  const raw = await deps.artifacts.read(data.meetingId, 'minutes.json');
  if (raw === null) throw new Error(`minutes of meeting ${data.meetingId} are not stored`);
  const minutes = MinutesSchema.parse(JSON.parse(raw));
  const meeting = await deps.store.get(data.meetingId);
  const links = await deps.artifacts.links(data.meetingId, LINKED_ARTEFACTS);
  const email = composeMinutesEmail({ minutes, recipientName: data.recipient.name, meetingDate: meeting?.startedAt ?? meeting?.createdAt ?? null, links });
  let messageId: string;
  try {
    ({ messageId } = await deps.mailer.send(data.recipient, email, { 'X-Meeting-Id': data.meetingId }));
  } catch (e) {
    const failure = smtpFailure(e);
    if (!failure.permanent) throw new SmtpTemporaryError(failure, e); // retried
    await deps.store.recordDelivery(data.meetingId, data.recipientKey, { address: data.recipient.address, outcome: 'refused', reply: failure.reply, at: new Date().toISOString() });
    log.warn({ jobId: job.id, meetingId: data.meetingId, recipientKey: data.recipientKey, status: failure.status }, 'recipient refused by the SMTP server; not retried');
    emailsSent.inc({ outcome: 'refused' });
    return { outcome: 'refused' };
  }
  await deps.sent.markSent(data.meetingId, data.recipientKey, messageId);
  await deps.store.recordDelivery(data.meetingId, data.recipientKey, { address: data.recipient.address, outcome: 'sent', reply: null, at: new Date().toISOString() });
  log.info({ jobId: job.id, meetingId: data.meetingId, recipientKey: data.recipientKey, role: data.recipient.role }, 'minutes email sent');
  emailsSent.inc({ outcome: 'sent' });
  return { outcome: 'sent' };
}

/** After a job's last attempt failed: the recipient is recorded `failed`, with the last reply. */
export async function recordEmailGivenUp(store: Pick<MeetingStateStore, 'recordDelivery'>, data: unknown, error: unknown): Promise<void> {
  const job = EmailJobSchema.safeParse(data);
  if (!job.success) return;
  const { reply } = smtpFailure(error);
  await store.recordDelivery(job.data.meetingId, job.data.recipientKey, { address: job.data.recipient.address, outcome: 'failed', reply, at: new Date().toISOString() });
  emailsSent.inc({ outcome: 'failed' });
}

export function startEmailWorker(connection: Redis, deps: EmailDeps, crash: CrashSafety): Worker {
  const worker = new Worker(QUEUE.email, (job) => sendMinutesEmail(deps, job), {
    connection,
    concurrency: 4,
    // SMTP relays throttle bursts; ten a second is polite for a meeting's worth of recipients.
    limiter: { max: 10, duration: 1000 },
    ...crashSafeOptions(crash),
  });
  worker.on('failed', (job, err) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return; // will be retried
    void recordEmailGivenUp(deps.store, job.data, err).catch((e: unknown) => log.warn({ jobId: job.id, err: e }, 'could not record the failed delivery'));
  });
  return worker;
}
