/**
 * How the transcript is shown to the model: one line per turn, `[T012 00:12:03] Alice Martin: ...`,
 * between <transcript> tags. Spoken text is data; it is stripped of anything that could close the
 * delimiter or forge a turn header, so nothing said can pass for an instruction or a turn.
 */
import { formatClock, type Transcript, type Turn } from '../transcript/transcript.js';

export function neutraliseSpokenText(text: string): string {
  return text
    .replace(/<\/?\s*(transcript|partial_minutes)[^>]*>/gi, ' ')
    .replace(/[<>]/g, ' ')
    .replace(/\[(T\d+)/g, '($1')
    .replace(/\s+/g, ' ')
    .trim();
}

export function turnLine(turn: Turn): string {
  return `[${turn.id} ${formatClock(turn.startMs)}] ${neutraliseSpokenText(turn.speaker.name || turn.speaker.identity)}: ${neutraliseSpokenText(turn.text)}`;
}

export function transcriptLines(turns: readonly Turn[]): string {
  return turns.map(turnLine).join('\n');
}

export function participantLines(transcript: Transcript): string {
  return transcript.participants.map((p) => `- ${neutraliseSpokenText(p.name || p.identity)}`).join('\n');
}

/**
 * Cuts the turns into consecutive parts of at most `maxTokens` (estimated) each, only between
 * turns. A single turn longer than the budget becomes a part of its own (a turn is never cut: its
 * id is what citations point to).
 */
export function splitAtTurns(turns: readonly Turn[], maxTokens: number, estimate: (text: string) => number): Turn[][] {
  const costs = turns.map((t) => estimate(turnLine(t)) + 1);
  const total = costs.reduce((a, b) => a + b, 0);
  // Even parts (not a full ones and a crumb): aim at total / n for the smallest n that fits.
  // 10 % slack, so that turn boundaries never leave a crumb of a last part.
  const target = Math.min(maxTokens, Math.ceil(total / Math.max(1, Math.ceil(total / (maxTokens * 0.9)))));
  const parts: Turn[][] = [];
  let current: Turn[] = [];
  let size = 0;
  for (const [i, turn] of turns.entries()) {
    const cost = costs[i] ?? 0;
    if (current.length > 0 && (size + cost > maxTokens || size + cost / 2 > target)) {
      parts.push(current);
      current = [];
      size = 0;
    }
    current.push(turn);
    size += cost;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}
