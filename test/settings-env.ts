/** A complete, valid set of settings for every role (fake hosts and secrets), for config tests. */
export const VALID_SETTINGS = {
  LIVEKIT_URL: 'ws://127.0.0.1:7880',
  LIVEKIT_API_KEY: 'devkey',
  LIVEKIT_API_SECRET: 'super-secret-livekit',
  REDIS_URL: 'redis://:redispass@127.0.0.1:6379',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_BUCKET: 'meetings',
  S3_ACCESS_KEY_ID: 'minio-access',
  S3_SECRET_ACCESS_KEY: 'minio-secret-value',
  STT_BASE_URL: 'https://stt.hebergeur.fr/v1',
  STT_API_KEY: 'stt-secret-key',
  MISTRAL_API_KEY: 'mistral-secret-key',
  SMTP_URL: 'smtp://mailer:smtp-password@smtp.mairie.fr:587',
  MAIL_FROM: 'Comptes rendus <no-reply@mairie.fr>',
};
