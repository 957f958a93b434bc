/**
 * `meeting-agent api [--port N] [--host ADDRESS]`: serves the control plane until SIGTERM/SIGINT,
 * then stops accepting requests, finishes the ones in flight and closes its connections.
 */
import { loadCheckedConfig } from '../pipelines/residency.js';
import { createLogger } from '../logging.js';
import { collectProcessMetrics } from '../metrics.js';
import { createSpeechToText } from '../pipelines/stt/index.js';
import { openApiResources } from './resources.js';
import { buildApi } from './server.js';
import { CachedSttProbe } from './stt-probe.js';

export interface ApiArgs {
  port?: number;
  host: string;
}

export function parseApiArgs(argv: string[]): ApiArgs {
  const args: ApiArgs = { host: '0.0.0.0' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--port' && value !== undefined && /^\d{1,5}$/.test(value) && Number(value) <= 65535) {
      args.port = Number(value);
      i++;
    } else if (flag === '--host' && value !== undefined && value.length > 0) {
      args.host = value;
      i++;
    } else {
      throw new Error(`Unknown or incomplete option "${flag}". Usage: meeting-agent api [--port N] [--host ADDRESS]`);
    }
  }
  return args;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseApiArgs(argv);
  const config = await loadCheckedConfig('api');
  const logger = createLogger('api', config.LOG_LEVEL);
  collectProcessMetrics();

  const resources = openApiResources(config);
  const app = buildApi({
    config,
    ...resources,
    // The same client the agent transcribes with, so the probe checks what the agent will use.
    stt: new CachedSttProbe(createSpeechToText(config, { logger })),
    logger,
  });

  const stopped = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  try {
    const address = await app.listen({ port: args.port ?? config.API_PORT, host: args.host });
    logger.info({ address, agentName: config.AGENT_NAME }, 'control plane listening');
    const signal = await stopped;
    logger.info({ signal }, 'shutting down');
  } finally {
    await app.close();
    await resources.close();
  }
}
