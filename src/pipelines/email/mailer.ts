/**
 * Sending one message over SMTP (nodemailer, SMTP_URL), and the "sent" marker that makes each
 * recipient's email go out once even when its job runs again.
 *
 * Exactly once, as far as SMTP allows: the marker is set only after the server accepted the
 * message. If the process dies in the instant between the two, the retried job sends again (the
 * recipient gets a duplicate rather than nothing: at-least-once at that edge, by choice).
 */
import type { Redis } from 'ioredis';
import nodemailer, { type Transporter } from 'nodemailer';
import { meetingKeys } from '../../meeting/redis-keys.js';
import type { ComposedEmail } from './compose-email.js';

export interface Mailer {
  send(to: { address: string; name: string | null }, email: ComposedEmail, headers?: Record<string, string>): Promise<{ messageId: string; accepted: number }>;
  close(): void;
}

/**
 * nodemailer's transport for SMTP_URL, exactly as the mailer uses it; the data-residency guard
 * inspects this same object (nodemailer reads `service`, `proxy`, `sendmail`... from the URL's query).
 */
export function createSmtpTransport(smtpUrl: string): Transporter {
  return nodemailer.createTransport(smtpUrl);
}

export function createMailer(smtpUrl: string, from: string): Mailer {
  const transport = createSmtpTransport(smtpUrl);
  return {
    async send(to, email, headers = {}) {
      const info = await transport.sendMail({
        from,
        to: to.name ? { name: to.name, address: to.address } : to.address,
        subject: email.subject,
        text: email.text,
        html: email.html,
        headers: { 'Auto-Submitted': 'auto-generated', ...headers },
      });
      const accepted = info.accepted ?? [];
      if (accepted.length === 0) throw new Error(`SMTP server accepted no recipient (${(info.rejected ?? []).length} rejected)`);
      return { messageId: info.messageId, accepted: accepted.length };
    },
    close: () => transport.close(),
  };
}

export interface SmtpFailure {
  /** A 5xx reply: the server refuses for good (unknown mailbox, policy); trying again changes nothing. */
  permanent: boolean;
  status: number | null;
  /** The server's reply (e.g. "550 5.1.1 Mailbox unavailable"), or the connection error's code. */
  reply: string;
}

/**
 * What an error from `send` means. nodemailer puts the SMTP reply code in `responseCode` (a
 * recipient refused at RCPT: code EENVELOPE with the 5xx/4xx reply); a connection that failed or
 * dropped has none, and is temporary.
 */
export function smtpFailure(e: unknown): SmtpFailure {
  if (e instanceof SmtpTemporaryError) return e.failure;
  const err = e as { responseCode?: unknown; response?: unknown; code?: unknown; message?: unknown; rejectedErrors?: { response?: unknown; responseCode?: unknown }[] };
  const first = err.rejectedErrors?.[0];
  const status = typeof first?.responseCode === 'number' ? first.responseCode : typeof err.responseCode === 'number' ? err.responseCode : null;
  const response = typeof first?.response === 'string' ? first.response : typeof err.response === 'string' ? err.response : null;
  const reply = (response ?? (typeof err.code === 'string' ? err.code : String(err.message ?? e))).replace(/[\r\n]+/g, ' ').slice(0, 300);
  return { permanent: status !== null && status >= 500 && status < 600, status, reply };
}

/**
 * A temporary SMTP failure, thrown so that the job is tried again. Its message names the status or
 * error code only: an SMTP reply often quotes the recipient's address ("451 4.3.0 <a@b.fr>: ..."),
 * and a thrown message reaches the logs, BullMQ's `failedReason` and, after the last attempt, its
 * event stream, none of which erasure of the meeting can reach. The reply itself stays in `failure`
 * (recorded on the meeting's delivery, which is erased with it).
 */
export class SmtpTemporaryError extends Error {
  readonly status: number | null;
  readonly code: string | undefined;
  constructor(readonly failure: SmtpFailure, cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code;
    super(`temporary SMTP failure (${failure.status ?? (typeof code === 'string' ? code : 'no reply')}); the recipient's job is tried again`);
    this.name = 'SmtpTemporaryError';
    this.status = failure.status;
    this.code = typeof code === 'string' ? code : undefined;
  }
}

const sentKey = meetingKeys.sent;

export class SentMarkers {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {}

  async wasSent(meetingId: string, recipientKey: string): Promise<boolean> {
    return (await this.redis.exists(sentKey(meetingId, recipientKey))) === 1;
  }

  async markSent(meetingId: string, recipientKey: string, messageId: string): Promise<void> {
    await this.redis.set(sentKey(meetingId, recipientKey), messageId, 'EX', this.ttlSeconds);
  }
}
