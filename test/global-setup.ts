/**
 * Starts the real LiveKit, Redis and MinIO servers once for the whole test run (on loopback,
 * free ports) and hands their settings to the tests through `inject('services')`.
 * Tests that need their own instance (a Redis to kill, a LiveKit with webhooks) start it themselves
 * with src/local.
 */
import type { TestProject } from 'vitest/node';
import { startLocalServices, type LocalServices, type LocalServicesEnv } from '../src/local/services.js';

export type ServicesEnv = LocalServicesEnv;

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
