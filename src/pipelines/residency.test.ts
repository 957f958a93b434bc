import { afterEach, describe, expect, it } from 'vitest';
import { VALID_SETTINGS } from '../../test/settings-env.js';
import { ConfigError } from '../config.js';
import { loadCheckedConfig } from './residency.js';

const valid = {
  ...VALID_SETTINGS,
  ALLOWED_HOSTS: '.hebergeur.fr, *.mairie.fr, api.eu.mistral.ai, 127.0.0.1',
};

async function problemsOf(env: NodeJS.ProcessEnv, role: Parameters<typeof loadCheckedConfig>[0] = 'pipeline'): Promise<string[]> {
  try {
    await loadCheckedConfig(role, env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

describe('data-residency guard (ALLOWED_HOSTS)', () => {
  afterEach(() => {
    delete process.env.AWS_ENDPOINT_URL_S3;
  });

  it('starts when every endpoint is on the list (names and suffixes), and checks nothing without a list', async () => {
    expect(await problemsOf(valid)).toEqual([]);
    expect(await problemsOf({ ...valid, ALLOWED_HOSTS: undefined, SMTP_URL: 'smtp://x.example/?service=gmail' })).toEqual([]);
  });

  it('refuses to start and names each endpoint outside the list, without its credentials', async () => {
    const problems = await problemsOf({ ...valid, MISTRAL_SERVER_URL: 'https://api.mistral.ai', ALLOWED_HOSTS: '.hebergeur.fr,127.0.0.1' });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('MISTRAL_SERVER_URL: the Mistral (minutes) client would connect to "api.mistral.ai"');
    expect(problems[1]).toContain('SMTP_URL: the SMTP client would connect to "smtp.mairie.fr"');
    expect(problems.join('\n')).not.toContain('smtp-password');
  });

  it('does not let a suffix match a look-alike host', async () => {
    const problems = await problemsOf({ ...valid, STT_BASE_URL: 'https://evilhebergeur.fr/v1' });
    expect(problems).toEqual([expect.stringContaining('STT_BASE_URL: the speech-to-text client would connect to "evilhebergeur.fr"')]);
  });

  describe('checks the host nodemailer really uses', () => {
    it('service=gmail on an allowed host: nodemailer would go to Gmail, so the role refuses', async () => {
      const problems = await problemsOf({ ...valid, SMTP_URL: 'smtp://smtp.mairie.fr/?service=gmail' });
      expect(problems).toEqual([expect.stringContaining('SMTP_URL: the SMTP client would connect to "smtp.gmail.com"')]);
      // The issue's own value.
      const issue = await problemsOf({ ...valid, ALLOWED_HOSTS: 'allowed.example', SMTP_URL: 'smtp://allowed.example/?service=gmail' });
      expect(issue.filter((p) => p.startsWith('SMTP_URL:'))).toEqual([expect.stringContaining('would connect to "smtp.gmail.com"')]);
    });

    it('every other way the URL query moves the mail elsewhere', async () => {
      const cases: [string, string][] = [
        ['smtp://smtp.mairie.fr:587/?service=SendGrid', '"smtp.sendgrid.net"'],
        ['smtp://smtp.mairie.fr/?pool=true&service=gmail', '"smtp.gmail.com"'],
        ['smtp://smtp.mairie.fr/?url=smtp://mail.outside.example:25', '"mail.outside.example"'],
        ['smtp:///?host=mail.outside.example', '"mail.outside.example"'],
        ['smtp://smtp.mairie.fr/?SES=1', 'nodemailer builds no SMTP transport from it (ECONFIG'],
        ['smtp://smtp.mairie.fr:587/?proxy=http://relay.outside.example:3128', '"relay.outside.example"'],
        ['smtp://smtp.mairie.fr:587/?proxy=socks5://10.9.8.7:1080', '"10.9.8.7"'],
        ['smtp://smtp.mairie.fr:587/?sendmail=true', 'not send by SMTP but through "Sendmail'],
        ['smtp://smtp.mairie.fr:587/?jsonTransport=true', 'not send by SMTP'],
        ['smtp://smtp.mairie.fr:587/?streamTransport=true', 'not send by SMTP'],
        ['smtps://', '"localhost"'],
      ];
      for (const [url, named] of cases) {
        const problems = await problemsOf({ ...valid, SMTP_URL: url });
        expect(problems, url).toHaveLength(1);
        expect(problems[0], url).toMatch(/^SMTP_URL: /);
        expect(problems[0], url).toContain(named);
      }
      // What nodemailer keeps on the named host is fine: a pool, an unknown service name, TLS options.
      for (const url of ['smtp://smtp.mairie.fr:587/?pool=true', 'smtp://smtp.mairie.fr:587/?service=not-a-known-service', 'smtps://smtp.mairie.fr/?tls.rejectUnauthorized=true']) {
        expect(await problemsOf({ ...valid, SMTP_URL: url }), url).toEqual([]);
      }
    });
  });

  describe('checks the host the S3 client really sends to', () => {
    it('no endpoint means AWS, in the region, unless allowed', async () => {
      const problems = await problemsOf({ ...valid, S3_ENDPOINT: undefined, S3_REGION: 'eu-west-3' }, 'api');
      expect(problems).toEqual([expect.stringContaining('S3_ENDPOINT: the S3 storage client would connect to "s3.eu-west-3.amazonaws.com"')]);
      expect(await problemsOf({ ...valid, S3_ENDPOINT: undefined, S3_REGION: 'eu-west-3', ALLOWED_HOSTS: `${valid.ALLOWED_HOSTS},s3.eu-west-3.amazonaws.com` }, 'api')).toEqual([]);
    });

    it('a recording transcribed without S3_BUCKET stores nothing in S3, so no S3 host is asked of it', async () => {
      const recording = { ...valid, S3_ENDPOINT: undefined, S3_BUCKET: undefined, S3_REGION: 'eu-west-3' };
      expect(await problemsOf(recording, 'transcribe')).toEqual([]);
      expect(await problemsOf({ ...recording, S3_BUCKET: 'meetings' }, 'transcribe')).toEqual([expect.stringContaining('"s3.eu-west-3.amazonaws.com"')]);
    });

    it('an endpoint the AWS SDK takes from its own environment (AWS_ENDPOINT_URL_S3) is the one checked', async () => {
      process.env.AWS_ENDPOINT_URL_S3 = 'https://s3.elsewhere.example';
      const problems = await problemsOf({ ...valid, S3_ENDPOINT: undefined }, 'delete');
      expect(problems).toEqual([expect.stringContaining('S3_ENDPOINT: the S3 storage client would connect to "s3.elsewhere.example"')]);
    });
  });
});
