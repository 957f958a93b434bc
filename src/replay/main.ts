/**
 * CLI: run a replay server.
 *
 *   tsx src/replay/main.ts --provider openai --cassette fixtures/cassettes/comite-projet.json --port 0
 *
 * Prints the server's URL as the first line on stdout, then one metadata line per request on
 * stderr (route, status, outcome, time; never content). Record mode reads REPLAY_MODE=record,
 * REPLAY_UPSTREAM_URL and REPLAY_UPSTREAM_API_KEY from the environment (a key on the command line
 * would show in `ps`).
 */
/* eslint-disable no-console -- a CLI entry point: stdout carries the URL, stderr request metadata only. */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Provider } from './cassette.js';
import { FaultRule } from './faults.js';
import { startReplayServer, type ReplayMode } from './server.js';

const USAGE = `usage: tsx src/replay/main.ts --provider openai|mistral [--cassette file.json]... [--port 0] [--host 127.0.0.1]
       [--mode replay|record] [--upstream URL] [--record-to file.json] [--fault JSON]... [--min-score 0.8] [--quiet]
env:   REPLAY_MODE, REPLAY_UPSTREAM_URL, REPLAY_UPSTREAM_API_KEY`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      provider: { type: 'string' },
      cassette: { type: 'string', multiple: true },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      mode: { type: 'string' },
      upstream: { type: 'string' },
      'record-to': { type: 'string' },
      fault: { type: 'string', multiple: true },
      'min-score': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const provider = Provider.safeParse(values.provider);
  if (!provider.success) throw new Error(`--provider must be openai or mistral\n${USAGE}`);
  const mode = z.enum(['replay', 'record']).parse(values.mode ?? process.env.REPLAY_MODE ?? 'replay') as ReplayMode;
  const port = z.coerce.number().int().min(0).max(65535).parse(values.port);
  const upstreamUrl = values.upstream ?? process.env.REPLAY_UPSTREAM_URL;
  const apiKey = process.env.REPLAY_UPSTREAM_API_KEY;
  if (mode === 'record' && !upstreamUrl) throw new Error('record mode needs --upstream or REPLAY_UPSTREAM_URL');
  const faults = (values.fault ?? []).map((f) => FaultRule.parse(JSON.parse(f)));
  const minScore = values['min-score'] !== undefined ? z.coerce.number().min(0).max(1).parse(values['min-score']) : undefined;

  const server = await startReplayServer({
    provider: provider.data,
    cassettes: values.cassette ?? [],
    mode,
    ...(upstreamUrl ? { upstream: { url: upstreamUrl, ...(apiKey ? { apiKey } : {}) } } : {}),
    ...(values['record-to'] ? { recordTo: values['record-to'] } : {}),
    faults,
    host: values.host,
    port,
    ...(minScore !== undefined ? { match: { minScore } } : {}),
    onRequest: values.quiet
      ? undefined
      : (e) =>
          console.error(
            `replay ${e.route} ${e.status} ${e.outcome}${e.entryId ? ` ${e.entryId}` : ''}${e.match ? ` score=${e.match.score} ${e.match.method}` : ''} ${e.ms}ms`,
          ),
  });
  console.log(server.url);
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(2);
});
