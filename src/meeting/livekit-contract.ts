/**
 * The names LiveKit participants, front ends and the conferencing backend rely on (docs/interfaces.md):
 * the only place they are spelled in the product. Tests spell them again on purpose, as an outside
 * client would, so a rename here fails them.
 */

/** Attributes a human participant carries (set by the backend in its token, or by the participant). */
export const PARTICIPANT_ATTR = {
  /** The participant's address for the minutes; trusted only as docs/interfaces.md says. */
  email: 'email',
  /** base64url(HMAC-SHA256(RECIPIENT_SIGNING_KEY, `<identity>\n<email>`)), minted by the backend. */
  emailSignature: 'email.sig',
  /** "true": do not transcribe this participant from now on. */
  optOut: 'transcription.optout',
} as const;

/** Attributes the agent participant sets on itself. */
export const AGENT_ATTR = {
  /** `active`, `paused` or `ending`. */
  state: 'transcription.state',
  language: 'transcription.language',
  meetingId: 'transcription.meeting_id',
} as const;

/** Text-stream topics: LiveKit's chat, and its transcriptions (rendered as captions by its client SDKs). */
export const TOPIC = { chat: 'lk.chat', captions: 'lk.transcription' } as const;

/** Attributes of a caption text stream, as LiveKit's client SDKs read them. */
export const CAPTION_ATTR = {
  trackId: 'lk.transcribed_track_id',
  segmentId: 'lk.segment_id',
  final: 'lk.transcription_final',
} as const;
