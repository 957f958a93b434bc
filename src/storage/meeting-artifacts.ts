/**
 * Every artefact of a meeting lives under one key prefix, `<S3_PREFIX><meetingId>/`, so erasure is
 * one prefix: transcript.{json,vtt,srt,md}, minutes.{json,md}, manifest.json (sizes + sha256),
 * and the audio the agent spooled while speech-to-text was down (audio-spool/).
 *
 * Objects are private (no ACL is ever granted; readers get presigned links that expire) and carry
 * the tag `retention=<days>d`. A bucket lifecycle rule on that tag (installRetentionLifecycle)
 * makes the store delete them after that many days:
 *
 *   <Rule><ID>meeting-agent-retention-30d</ID><Status>Enabled</Status>
 *     <Filter><Tag><Key>retention</Key><Value>30d</Value></Tag></Filter>
 *     <Expiration><Days>30</Days></Expiration></Rule>
 *
 * Changing RETENTION_DAYS adds a rule for the new tag and keeps the old one, so objects written
 * earlier still expire as announced when they were written.
 */
import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  type LifecycleRule,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';

export const ARTEFACT_NAMES = ['transcript.json', 'transcript.vtt', 'transcript.srt', 'transcript.md', 'minutes.json', 'minutes.md'] as const;
export type ArtefactName = (typeof ARTEFACT_NAMES)[number];

export const CONTENT_TYPES: Record<ArtefactName, string> = {
  'transcript.json': 'application/json; charset=utf-8',
  'transcript.vtt': 'text/vtt; charset=utf-8',
  'transcript.srt': 'application/x-subrip; charset=utf-8',
  'transcript.md': 'text/markdown; charset=utf-8',
  'minutes.json': 'application/json; charset=utf-8',
  'minutes.md': 'text/markdown; charset=utf-8',
};

export const ManifestSchema = z.object({
  meetingId: z.string(),
  createdAt: z.string().datetime(),
  retentionDays: z.number().int().positive(),
  /** Earliest date the lifecycle rule deletes the artefacts. */
  expiresAfter: z.string().datetime(),
  files: z.array(z.object({ name: z.string(), key: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/), contentType: z.string() })),
  /** Model token usage for the minutes (counts only). */
  usage: z.object({ promptTokens: z.number().int(), completionTokens: z.number().int(), estimatedPromptTokens: z.number().int(), calls: z.number().int() }).nullable(),
  /** A transcribed recording: its length and the audio sent to speech-to-text (src/cli/transcribe.ts). */
  recording: z
    .object({
      recordingMs: z.number().int().nonnegative(),
      speechMs: z.number().int().nonnegative(),
      sentMs: z.number().int().nonnegative(),
      requests: z.number().int().nonnegative(),
      tracks: z.array(z.object({ file: z.string(), speaker: z.string().nullable(), recordingMs: z.number().int(), speechMs: z.number().int(), sentMs: z.number().int(), utterances: z.number().int() })),
    })
    .optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

const MEETING_ID = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a meeting id is 1-100 letters, digits, "-" or "_"');

export interface ArtefactStoreOptions {
  bucket: string;
  /** S3_PREFIX: empty or ending with "/". */
  prefix: string;
  retentionDays: number;
  linkExpiryHours: number;
}

export interface PresignedLink {
  name: ArtefactName;
  url: string;
  expiresAt: string;
}

export function retentionTag(days: number): string {
  return `${days}d`;
}

/** The S3 `Tagging` every object of a meeting is written with, so the lifecycle rule deletes it. */
export function retentionTagging(days: number): string {
  return `retention=${retentionTag(days)}`;
}

/** Where the agent spools an utterance's audio: under the meeting's prefix, so erasure takes it too. */
export function spoolKey(prefix: string, meetingId: string, segmentId: string): string {
  return `${prefix}${MEETING_ID.parse(meetingId)}/audio-spool/${segmentId}.flac`;
}

export interface SpoolTarget {
  bucket: string;
  /** S3_PREFIX. */
  prefix: string;
  /** RETENTION_DAYS: the spooled audio carries the same retention tag as the artefacts. */
  retentionDays: number;
}

/**
 * Writes an utterance's FLAC to the meeting's spool, tagged for retention (a deferred job that
 * never runs must not leave audio the lifecycle rule cannot see). Returns the key.
 */
export async function putSpooledAudio(s3: S3Client, target: SpoolTarget, meetingId: string, segmentId: string, flac: Buffer): Promise<string> {
  const key = spoolKey(target.prefix, meetingId, segmentId);
  await s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: flac, ContentType: 'audio/flac', Tagging: retentionTagging(target.retentionDays) }));
  return key;
}

/** Where a meeting's artefacts go: S3 (MeetingArtifacts), or a local folder beside it (LocalArtifacts). */
export type ArtefactStore = Pick<MeetingArtifacts, 'store' | 'manifest' | 'read' | 'links'>;

export class MeetingArtifacts {
  constructor(
    private readonly s3: S3Client,
    readonly options: ArtefactStoreOptions,
  ) {}

  /** `<prefix><meetingId>/` — the whole meeting. Validated so no id can reach another meeting's keys. */
  meetingPrefix(meetingId: string): string {
    return `${this.options.prefix}${MEETING_ID.parse(meetingId)}/`;
  }

  keyOf(meetingId: string, name: string): string {
    return `${this.meetingPrefix(meetingId)}${name}`;
  }

  /**
   * Writes the artefacts, then the manifest last: a manifest means every file it lists is there
   * (the finalize worker uses it to skip work already done after a crash).
   */
  async store(meetingId: string, files: Partial<Record<ArtefactName, string>>, usage: Manifest['usage'] = null): Promise<Manifest> {
    const tagging = retentionTagging(this.options.retentionDays);
    const entries: Manifest['files'] = [];
    for (const name of ARTEFACT_NAMES) {
      const content = files[name];
      if (content === undefined) continue;
      const body = Buffer.from(content, 'utf8');
      const key = this.keyOf(meetingId, name);
      await this.s3.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: key, Body: body, ContentType: CONTENT_TYPES[name], Tagging: tagging }));
      entries.push({ name, key, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), contentType: CONTENT_TYPES[name] });
    }
    const now = new Date();
    const manifest = ManifestSchema.parse({
      meetingId,
      createdAt: now.toISOString(),
      retentionDays: this.options.retentionDays,
      expiresAfter: new Date(now.getTime() + this.options.retentionDays * 86_400_000).toISOString(),
      files: entries,
      usage,
    });
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: this.keyOf(meetingId, 'manifest.json'),
        Body: `${JSON.stringify(manifest, null, 2)}\n`,
        ContentType: 'application/json; charset=utf-8',
        Tagging: tagging,
      }),
    );
    return manifest;
  }

  async manifest(meetingId: string): Promise<Manifest | null> {
    const text = await this.read(meetingId, 'manifest.json');
    return text === null ? null : ManifestSchema.parse(JSON.parse(text));
  }

  /** The object as text, or null when it does not exist. */
  async read(meetingId: string, name: string): Promise<string | null> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(meetingId, name) }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey') return null;
      throw e;
    }
  }

  /** Presigned GET links, valid LINK_EXPIRY_HOURS; the object stays private. */
  async links(meetingId: string, names: readonly ArtefactName[]): Promise<PresignedLink[]> {
    const expiresIn = this.options.linkExpiryHours * 3600;
    const expiresAt = new Date(Date.now() + expiresIn * 1000).toISOString();
    return Promise.all(
      names.map(async (name) => ({
        name,
        url: await getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(meetingId, name) }), { expiresIn }),
        expiresAt,
      })),
    );
  }

  /** Every key under the meeting's prefix (artefacts, manifest, spooled audio). */
  async list(meetingId: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.meetingPrefix(meetingId), ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Right to erasure: deletes every object under the meeting's prefix; returns the keys removed. */
  async erase(meetingId: string): Promise<string[]> {
    const removed: string[] = [];
    for (;;) {
      const keys = await this.list(meetingId);
      if (keys.length === 0) return removed.sort();
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        const out = await this.s3.send(
          new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: false } }),
        );
        if (out.Errors && out.Errors.length > 0) {
          throw new Error(`S3 refused to delete ${out.Errors.length} object(s) of meeting ${meetingId}: ${out.Errors[0]?.Code ?? 'error'}`);
        }
        removed.push(...(out.Deleted ?? []).map((d) => d.Key ?? '').filter((k) => k !== ''));
      }
    }
  }
}

/** Creates the bucket when missing (local and test setups; production buckets are made by operators). */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw e;
    }
  }
}

export function retentionRuleId(days: number): string {
  return `meeting-agent-retention-${retentionTag(days)}`;
}

/**
 * Installs (idempotently) the lifecycle rule that expires objects tagged `retention=<days>d` after
 * `days` days, keeping every other rule of the bucket. Returns the rules now in place.
 */
export async function installRetentionLifecycle(s3: S3Client, bucket: string, days: number): Promise<LifecycleRule[]> {
  let existing: LifecycleRule[] = [];
  try {
    existing = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
  } catch (e) {
    if ((e as { name?: string }).name !== 'NoSuchLifecycleConfiguration') throw e;
  }
  const id = retentionRuleId(days);
  const rule: LifecycleRule = {
    ID: id,
    Status: 'Enabled',
    Filter: { Tag: { Key: 'retention', Value: retentionTag(days) } },
    Expiration: { Days: days },
  };
  const current = existing.find((r) => r.ID === id);
  if (current && current.Status === 'Enabled' && current.Expiration?.Days === days && current.Filter?.Tag?.Value === retentionTag(days)) return existing;
  const rules = [...existing.filter((r) => r.ID !== id), rule];
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: rules } }));
  return rules;
}
