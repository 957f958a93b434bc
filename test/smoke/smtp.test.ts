import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpReceiver, type SmtpReceiver } from '../../src/local/smtp-receiver.js';

describe('SMTP (in-process smtp-server receiver)', () => {
  let receiver: SmtpReceiver;
  beforeAll(async () => {
    receiver = await startSmtpReceiver();
  });
  afterAll(() => receiver.close());

  it('receives a multipart email through nodemailer with envelope and both parts', async () => {
    const transport = nodemailer.createTransport(receiver.url);
    await transport.sendMail({
      from: 'Comptes rendus <no-reply@mairie.fr>',
      to: 'alice.martin@mairie.fr',
      subject: 'Compte rendu : comité de projet',
      text: 'Résumé de la réunion',
      html: '<p>Résumé de la réunion</p>',
    });
    const [mail] = await receiver.waitFor(1);
    expect(mail!.envelopeTo).toEqual(['alice.martin@mairie.fr']);
    expect(mail!.envelopeFrom).toBe('no-reply@mairie.fr');
    expect(mail!.parsed.subject).toBe('Compte rendu : comité de projet');
    expect(mail!.parsed.text?.trim()).toBe('Résumé de la réunion');
    expect(mail!.parsed.html).toContain('<p>Résumé de la réunion</p>');
  });
});
