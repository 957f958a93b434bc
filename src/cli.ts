#!/usr/bin/env node
/**
 * `meeting-agent <command>`: one entry point for every role of the image.
 * Each command's module is loaded only when asked for, so `api` does not load the VAD model.
 */
import { ConfigError } from './config.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<void> }> }> = {
  worker: { summary: 'join LiveKit rooms when dispatched and transcribe them live', load: () => import('./agent/main.js') },
  pipeline: { summary: 'run the queue workers: deferred speech-to-text, minutes, storage, email', load: () => import('./pipelines/main.js') },
  api: { summary: 'serve the HTTP control plane (start/stop transcription, webhooks, metrics)', load: () => import('./api/main.js') },
  transcribe: {
    summary: 'transcribe a recording: meeting-agent transcribe <file> | --speaker "Name=file" ... [--language fr] [--out DIR] [--email a@b]',
    load: () => import('./cli/transcribe.js'),
  },
  delete: { summary: 'erase every copy of a finished meeting: meeting-agent delete <meetingId> [--force]', load: () => import('./cli/delete.js') },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'Usage: meeting-agent <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Settings come from the environment; see README.md.',
  ].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  try {
    await (await command.load()).main(rest);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 78; // EX_CONFIG
    }
    console.error(e instanceof Error ? e.message : String(e));
    // A command may say what kind of failure it was (e.g. transcribe's exit codes).
    const code = (e as { exitCode?: unknown }).exitCode;
    return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : 1;
  }
}

process.exitCode = await run(process.argv.slice(2));
