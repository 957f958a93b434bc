/**
 * From a meeting's state to its files: transcript (json, vtt, srt, md) and minutes (json, md), as
 * the finalize worker stores them (for live meetings and recordings alike).
 */
import type { MeetingEvent } from '../meeting/meeting-events.js';
import type { MeetingInfo, MeetingParticipant } from '../meeting/meeting-store.js';
import type { ArtefactName } from '../storage/meeting-artifacts.js';
import type { GenerateMinutesOptions } from './minutes/generate-minutes.js';
import { MinutesSchema, type Minutes } from './minutes/minutes-schema.js';
import { renderMinutesMarkdown } from './minutes/render-minutes-markdown.js';
import { renderTranscriptJson } from './transcript/render-json.js';
import { renderTranscriptMarkdown } from './transcript/render-markdown.js';
import { renderSrt } from './transcript/render-srt.js';
import { renderVtt } from './transcript/render-vtt.js';
import type { TranscriptSegment } from '../meeting/segment.js';
import { buildTranscript, type Transcript } from './transcript/transcript.js';

export type MinutesOptions = Omit<GenerateMinutesOptions, 'now'>;

export function transcriptOf(
  info: Pick<MeetingInfo, 'meetingId' | 'language' | 'startedAt' | 'endedAt'>,
  participants: readonly MeetingParticipant[],
  segments: readonly TranscriptSegment[],
  events: readonly MeetingEvent[],
  missingSegments = 0,
): Transcript {
  return buildTranscript({
    meetingId: info.meetingId,
    language: info.language,
    startedAt: info.startedAt,
    endedAt: info.endedAt,
    participants: participants.map((p) => ({ identity: p.identity, name: p.name, optedOut: p.optedOut })),
    segments,
    events,
    missingSegments,
  });
}

export function transcriptFiles(transcript: Transcript): Record<Extract<ArtefactName, `transcript.${string}`>, string> {
  return {
    'transcript.json': renderTranscriptJson(transcript),
    'transcript.vtt': renderVtt(transcript),
    'transcript.srt': renderSrt(transcript),
    'transcript.md': renderTranscriptMarkdown(transcript),
  };
}

export function minutesFiles(minutes: Minutes): Record<'minutes.json' | 'minutes.md', string> {
  return { 'minutes.json': `${JSON.stringify(MinutesSchema.parse(minutes), null, 2)}\n`, 'minutes.md': renderMinutesMarkdown(minutes) };
}
