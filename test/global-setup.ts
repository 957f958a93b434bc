/**
 * Starts the real LiveKit, Redis and MinIO servers once for the whole test run (on loopback,
 * free ports) and hands their settings to the tests through `inject('services')`; likewise a real
 * local Whisper (`inject('whisper')`, src/local/whisper-server.ts: under a second to start, the
 * model loads on the first request).
 * Tests that need their own instance (a Redis to kill, a LiveKit with webhooks) start it themselves
 * with src/local.
 */
import type { TestProject } from 'vitest/node';
import { startLocalServices, type LocalServices, type LocalServicesEnv } from '../src/local/services.js';
import { startWhisperServer, type WhisperServer } from '../src/local/whisper-server.js';

export type ServicesEnv = LocalServicesEnv;

/** The local Whisper: STT_BASE_URL and the model it really serves. */
export interface LocalWhisperEnv {
  baseUrl: string;
  model: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServicesEnv;
    whisper: LocalWhisperEnv;
  }
}

let services: LocalServices | undefined;
let whisper: WhisperServer | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  services = await startLocalServices({ baseDir: '.services/test' });
  try {
    whisper = await startWhisperServer({ workDir: services.workDir });
  } catch (e) {
    await services.stop();
    throw e;
  }
  project.provide('services', services.env);
  project.provide('whisper', { baseUrl: whisper.baseUrl, model: whisper.model });
  return async () => {
    await Promise.all([services?.stop(), whisper?.stop()]);
  };
}
