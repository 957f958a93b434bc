import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createS3Client } from '../../src/storage/s3-client.js';

describe('S3 (real MinIO)', () => {
  const env = inject('services');
  const s3 = createS3Client(env);
  const bucket = `smoke-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'minutes.md' }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  });

  it('round-trips an object and serves it through a presigned link only', async () => {
    const body = '# Compte rendu\n\nDécision : migration validée.\n';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'minutes.md', Body: body, ContentType: 'text/markdown; charset=utf-8' }));
    const back = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'minutes.md' }));
    expect(await back.Body?.transformToString()).toBe(body);

    const link = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'minutes.md' }), { expiresIn: 60 });
    const viaLink = await fetch(link);
    expect(viaLink.status).toBe(200);
    expect(await viaLink.text()).toBe(body);

    // The object is private: the same URL without a signature is refused.
    const anonymous = await fetch(link.split('?')[0]!);
    expect(anonymous.status).toBe(403);
  });
});
