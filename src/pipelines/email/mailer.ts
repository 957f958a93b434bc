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
