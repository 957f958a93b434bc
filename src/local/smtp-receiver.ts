import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReceivedMail {
  envelopeFrom: string | false;
  envelopeTo: string[];
  parsed: ParsedMail;
  raw: Buffer;
}

export interface SmtpReceiver {
  /** smtp:// URL to put in SMTP_URL. */
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** Waits until at least `count` messages arrived, or fails after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

export interface SmtpReceiverOptions {
  /**
   * Recipients refused at RCPT TO, with the reply (e.g. "550 5.1.1 Mailbox unavailable"): always,
   * or only the first `times` attempts (a temporary failure, e.g. "451 4.3.0 Try again later").
   */
  refuse?: Record<string, string | { reply: string; times: number }>;
}

/**
 * An in-process SMTP server that accepts every message (plain SMTP on loopback, with AUTH
 * optional) and keeps it parsed, so tests read what a participant's mailbox would receive; it can
 * refuse chosen recipients the way a real server does (`refuse`).
 */
export async function startSmtpReceiver(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const messages: ReceivedMail[] = [];
  const refusals = new Map<string, number>();
  const server = new SMTPServer({
    onRcptTo(address, _session, callback) {
      const rule = options.refuse?.[address.address.toLowerCase()] ?? options.refuse?.[address.address];
      const seen = refusals.get(address.address) ?? 0;
      refusals.set(address.address, seen + 1);
      if (rule !== undefined && (typeof rule === 'string' || seen < rule.times)) {
        const reply = typeof rule === 'string' ? rule : rule.reply;
        const [, code = '550', text = reply] = /^(\d{3})\s+(.*)$/.exec(reply) ?? [];
        return callback(Object.assign(new Error(text), { responseCode: Number(code) }));
      }
      callback();
    },
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onAuth(_auth, _session, callback) {
      callback(null, { user: 'local' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            messages.push({
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              parsed,
              raw,
            });
            callback();
          })
          .catch((e: Error) => callback(e));
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      resolve(address.port);
    });
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`expected ${count} emails, received ${messages.length} in ${timeoutMs} ms`);
        }
        await sleep(50);
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
