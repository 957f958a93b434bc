/**
 * What the agent tells the room when it starts transcribing, per meeting language (ISO 639-1).
 * Languages without an entry get English. Keep the texts short: they show up in the chat panel.
 */
export const ANNOUNCEMENTS: Readonly<Record<string, string>> = {
  fr:
    'La transcription de cette réunion est activée. Chaque intervention est transcrite avec le nom de son auteur, ' +
    'et un compte rendu sera envoyé aux participants. Pour ne pas être transcrit, activez l\u2019option « ne pas me transcrire ».',
  en:
    'Transcription of this meeting is on. Each contribution is transcribed with its speaker\u2019s name, and minutes will be ' +
    'sent to the participants. To opt out, turn on "do not transcribe me".',
};

export function announcementFor(language: string): string {
  return ANNOUNCEMENTS[language] ?? ANNOUNCEMENTS.en!;
}
