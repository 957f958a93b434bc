/**
 * Token estimate for the budget decision. The Mistral TS SDK has no tokenizer, so: characters
 * divided by a chars-per-token ratio (about 3.5 for French and English prose with Mistral's
 * tokenizer), recalibrated from the `usage.promptTokens` the API reports for each call.
 */
export const DEFAULT_CHARS_PER_TOKEN = 3.5;

export class TokenEstimator {
  #charsPerToken: number;

  constructor(charsPerToken = DEFAULT_CHARS_PER_TOKEN) {
    this.#charsPerToken = charsPerToken;
  }

  get charsPerToken(): number {
    return this.#charsPerToken;
  }

  estimate(text: string): number {
    return Math.ceil(text.length / this.#charsPerToken);
  }

  /**
   * Learns from one call: the observed ratio moves the estimate (bounded, so one odd answer cannot
   * make the next meeting skip the split it needs). Returns the ratio observed.
   */
  calibrate(promptChars: number, promptTokens: number): number | null {
    if (promptTokens <= 0 || promptChars <= 0) return null;
    const observed = promptChars / promptTokens;
    const blended = 0.7 * this.#charsPerToken + 0.3 * observed;
    this.#charsPerToken = Math.min(6, Math.max(2, blended));
    return observed;
  }
}
