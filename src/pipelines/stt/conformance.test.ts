/**
 * Every speech-to-text adapter through the one conformance suite (test/stt/conformance.ts), each
 * against the replay server speaking its real protocol. Provider-specific behaviour is tested in
 * openai-compatible.test.ts and mistral.test.ts.
 */
import { describeSttConformance } from '../../../test/stt/conformance.js';
import { mistralConfig, openAiConfig } from '../../../test/stt/harness.js';

describeSttConformance('openai', {
  name: 'OpenAI-compatible',
  config: openAiConfig,
  provider: 'openai-compatible',
  model: 'whisper-large-v3',
  confidence: Math.exp(-0.2), // the cassette's avg_logprob
  segmentation: 'sentence',
  clientErrorStatus: 400,
  unauthorizedBody: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } },
  // Whisper is often confident about it: only the phrase list can catch it.
  hallucination: { text: 'Sous-titres réalisés par la communauté d’Amara.org', noSpeechProb: 0.2, avgLogprob: -0.3, leak: /Amara/i },
});

describeSttConformance('mistral', {
  name: 'Mistral',
  config: mistralConfig,
  provider: 'mistral',
  model: 'voxtral-mini-latest',
  confidence: null, // Voxtral gives no log-probabilities
  segmentation: 'whole-upload',
  clientErrorStatus: 422,
  unauthorizedBody: { object: 'error', message: 'Unauthorized', type: 'invalid_request_error' },
  // Voxtral gives no no-speech probability either: only the phrase list can catch it.
  hallucination: { text: 'Merci d’avoir regardé cette vidéo !', noSpeechProb: 0, avgLogprob: 0, leak: /regardé cette vidéo/i },
});
