import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary } from './binaries.js';
import { ManagedProcess } from './managed-process.js';
import { freeTcpPort, freeUdpPort } from './ports.js';

export interface LiveKitServerOptions {
  /** Folder for the generated config and the server's log. */
  workDir: string;
  /** URLs LiveKit posts its webhooks to (signed with the dev key). */
  webhookUrls?: readonly string[];
  /** Seconds an empty room lives on (LiveKit's default is 5 minutes; tests want less). */
  emptyTimeoutSeconds?: number;
  departureTimeoutSeconds?: number;
  /** Reuse the ports of a server stopped before (a restart at the same URL); default: free ones. */
  ports?: { port: number; tcpPort: number; udpPort: number };
}

export interface LiveKitServer {
  url: string;
  httpUrl: string;
  apiKey: string;
  apiSecret: string;
  process: ManagedProcess;
  ports: { port: number; tcpPort: number; udpPort: number };
  stop(): Promise<void>;
}

// `--dev` fixes these credentials; they are only ever valid on loopback.
export const DEV_API_KEY = 'devkey';
export const DEV_API_SECRET = 'secret';

/**
 * livekit-server v1.13.5 in dev mode on loopback, on free ports (signal, TCP and one UDP port),
 * so several instances (tests in parallel, the demo) never collide.
 */
export async function startLiveKitServer(options: LiveKitServerOptions): Promise<LiveKitServer> {
  if (options.ports) return startOn(options, options.ports);
  // A free port is only free until someone takes it: between our probe and LiveKit's bind, another
  // test's server or an outgoing connection can (seen with files started side by side). Fresh ports
  // are then tried; ports a caller asked for are not (a restart must keep its URL).
  for (let attempt = 1; ; attempt++) {
    const ports = { port: await freeTcpPort(), tcpPort: await freeTcpPort(), udpPort: await freeUdpPort() };
    try {
      return await startOn(options, ports);
    } catch (e) {
      if (attempt >= PORT_ATTEMPTS || !portTaken(options.workDir)) throw e;
      // Kept for whoever wonders, out of the way of the next attempt's log.
      renameSync(join(options.workDir, 'livekit.log'), join(options.workDir, `livekit.port-taken-${attempt}.log`));
    }
  }
}

/** Attempts with fresh ports when LiveKit finds one of them taken at start. */
const PORT_ATTEMPTS = 4;

function portTaken(workDir: string): boolean {
  try {
    return /bind: address already in use/.test(readFileSync(join(workDir, 'livekit.log'), 'utf8'));
  } catch {
    return false;
  }
}

async function startOn(options: LiveKitServerOptions, { port, tcpPort, udpPort }: { port: number; tcpPort: number; udpPort: number }): Promise<LiveKitServer> {
  const binary = findBinary(['livekit-server', 'server'], process.env.LIVEKIT_SERVER_PATH);
  mkdirSync(options.workDir, { recursive: true });
  const configPath = join(options.workDir, 'livekit.yaml');
  const webhook = options.webhookUrls?.length
    ? `webhook:\n  api_key: ${DEV_API_KEY}\n  urls:\n${options.webhookUrls.map((u) => `    - ${JSON.stringify(u)}`).join('\n')}\n`
    : '';
  writeFileSync(
    configPath,
    `port: ${port}
rtc:
  tcp_port: ${tcpPort}
  udp_port: ${udpPort}
  use_external_ip: false
  enable_loopback_candidate: true
room:
  empty_timeout: ${options.emptyTimeoutSeconds ?? 20}
  departure_timeout: ${options.departureTimeoutSeconds ?? 5}
logging:
  level: info
${webhook}`,
  );
  const httpUrl = `http://127.0.0.1:${port}`;
  const proc = await ManagedProcess.start({
    name: 'livekit-server',
    command: binary,
    args: ['--dev', '--bind', '127.0.0.1', '--node-ip', '127.0.0.1', '--config', configPath],
    logFile: join(options.workDir, 'livekit.log'),
    // Bounded: a port answered by something that never replies must not hang the start.
    ready: async () => (await fetch(httpUrl, { signal: AbortSignal.timeout(2_000) })).ok,
  });
  return {
    url: `ws://127.0.0.1:${port}`,
    httpUrl,
    apiKey: DEV_API_KEY,
    apiSecret: DEV_API_SECRET,
    process: proc,
    ports: { port, tcpPort, udpPort },
    stop: () => proc.stop(),
  };
}
