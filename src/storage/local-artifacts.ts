/**
 * A meeting's artefacts in a local folder (`transcribe --out DIR`), with the same manifest as in
 * S3 (manifest.json: sizes, sha256, token usage, and for a recording the audio seconds sent), and
 * the pair "folder first, then S3" the recording mode hands to the pipeline's finalisation, so the
 * transcript is on the user's disk before anything can fail further on.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ARTEFACT_NAMES, CONTENT_TYPES, ManifestSchema, type ArtefactName, type ArtefactStore, type Manifest, type PresignedLink } from './meeting-artifacts.js';

export class LocalArtifacts implements ArtefactStore {
  /** Set by the recording mode before finalisation; written into every manifest. */
  recording: Manifest['recording'];

  constructor(
    readonly dir: string,
    private readonly retentionDays: number,
  ) {}

  async store(meetingId: string, files: Partial<Record<ArtefactName, string>>, usage: Manifest['usage'] = null): Promise<Manifest> {
    await mkdir(this.dir, { recursive: true });
    const previous = await this.manifest(meetingId);
    const entries = new Map((previous?.files ?? []).map((f) => [f.name, f]));
    for (const name of ARTEFACT_NAMES) {
      const content = files[name];
      if (content === undefined) continue;
      const body = Buffer.from(content, 'utf8');
      await writeAtomically(join(this.dir, name), body);
      entries.set(name, { name, key: name, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), contentType: CONTENT_TYPES[name] });
    }
    const now = new Date();
    const manifest = ManifestSchema.parse({
      meetingId,
      createdAt: now.toISOString(),
      retentionDays: this.retentionDays,
      expiresAfter: new Date(now.getTime() + this.retentionDays * 86_400_000).toISOString(),
      files: ARTEFACT_NAMES.flatMap((n) => entries.get(n) ?? []),
      usage: usage ?? previous?.usage ?? null,
      ...(this.recording ? { recording: this.recording } : {}),
    });
    await writeAtomically(join(this.dir, 'manifest.json'), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    return manifest;
  }

  /** The folder's manifest when it is this meeting's (an earlier run's folder is not). */
  async manifest(meetingId: string): Promise<Manifest | null> {
    const text = await this.read(meetingId, 'manifest.json', true);
    if (text === null) return null;
    const parsed = ManifestSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.meetingId === meetingId ? parsed.data : null;
  }

  async read(meetingId: string, name: string, any = false): Promise<string | null> {
    if (!any && name !== 'manifest.json' && (await this.manifest(meetingId)) === null) return null;
    try {
      return await readFile(join(this.dir, name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Local files cannot be linked from an email. */
  async links(): Promise<PresignedLink[]> {
    return [];
  }
}

async function writeAtomically(path: string, body: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, body);
  await rename(tmp, path);
}

/**
 * The local folder first, then S3 when configured: what the recording mode finalises into. Reads
 * and the manifest come from S3 when there is one (the shared truth), links only from S3.
 */
export class MirroredArtifacts implements ArtefactStore {
  constructor(
    readonly local: LocalArtifacts,
    readonly remote: ArtefactStore | null,
  ) {}

  async store(meetingId: string, files: Partial<Record<ArtefactName, string>>, usage: Manifest['usage'] = null): Promise<Manifest> {
    const manifest = await this.local.store(meetingId, files, usage);
    return this.remote ? this.remote.store(meetingId, files, usage) : manifest;
  }

  manifest(meetingId: string): Promise<Manifest | null> {
    return this.remote ? this.remote.manifest(meetingId) : this.local.manifest(meetingId);
  }

  async read(meetingId: string, name: string): Promise<string | null> {
    return (await this.local.read(meetingId, name)) ?? (this.remote ? this.remote.read(meetingId, name) : null);
  }

  links(meetingId: string, names: readonly ArtefactName[]): Promise<PresignedLink[]> {
    return this.remote ? this.remote.links(meetingId, names) : this.local.links();
  }
}
