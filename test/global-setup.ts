/**
 * Starts the real LiveKit, Redis and MinIO servers once for the whole test run (on loopback,
 * free ports) and hands their settings to the tests through `inject('services')`.
 * Tests that need their own instance (a Redis to kill, a LiveKit with webhooks) start it themselves
 * with src/local.
 */
import type { TestProject } from 'vitest/node';
import { startLocalServices, type LocalServices } from '../src/local/services.js';

export interface ServicesEnv {
  LIVEKIT_URL: string;
  LIVEKIT_API_KEY: string;
  LIVEKIT_API_SECRET: string;
  REDIS_URL: string;
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY_ID: string;
  S3_SECRET_ACCESS_KEY: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServicesEnv;
  }
}

let services: LocalServices | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  services = await startLocalServices({ baseDir: '.services/test' });
  project.provide('services', services.env);
  return async () => {
    await services?.stop();
  };
}
