/**
 * The worker's WebSocket to LiveKit's agent service (`<LIVEKIT_URL>/agent`), speaking the agent
 * worker protocol of @livekit/protocol (livekit_agent.proto): binary `WorkerMessage` up,
 * `ServerMessage` down. It registers (`RegisterWorkerRequest` → `RegisterWorkerResponse` with the
 * worker id) and, when the socket is lost, connects and registers again the way @livekit/agents 1.9
 * does (`AgentServer.run` in its worker.js): up to 10 attempts in a row, waiting 2, 4, ... 10 s
 * between them; the count starts over once a socket opens.
 *
 * LiveKit keeps no job of a lost worker (its OSS agent service deregisters them: pkg/service/
 * agentservice.go); the rooms this process hosts keep running on their own room connections, and
 * their later status updates go out on the new socket.
 */
import { JobType, ParticipantPermission, ServerMessage, WorkerMessage, type RegisterWorkerResponse } from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { Logger } from '../../logging.js';

/** @livekit/agents 1.9 (worker.js): attempts before giving up, and the longest wait between them. */
export const MAX_RECONNECT_ATTEMPTS = 10;
const MAX_RECONNECT_DELAY_S = 10;
/** A socket that does not answer the registration within this is dropped and tried again. */
const REGISTER_TIMEOUT_MS = 15_000;

export interface WorkerConnectionOptions {
  url: string;
  apiKey: string;
  apiSecret: string;
  agentName: string;
  /** What the job participants may do (the server puts it in their tokens). */
  permissions: { canPublish: boolean; canSubscribe: boolean; canPublishData: boolean; canUpdateMetadata: boolean };
  /** Sent as the worker's SDK version (LiveKit logs it). */
  version: string;
  logger: Logger;
  /** Every server message after the registration answer, in order. */
  onMessage: (message: ServerMessage) => void;
  /** Called on every (re-)registration, with the new worker id. */
  onRegistered: (workerId: string) => void;
  maxAttempts?: number;
}

export class WorkerConnection {
  readonly #o: WorkerConnectionOptions;
  #socket: WebSocket | null = null;
  #registered = false;
  #closed = false;

  constructor(options: WorkerConnectionOptions) {
    this.#o = options;
  }

  /** Whether a registered socket is open (the health answer). */
  get connected(): boolean {
    return this.#registered && this.#socket?.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a message if a registered socket is open; returns whether it went out. A message sent
   * while reconnecting is dropped, as @livekit/agents does: the next load report repeats the state.
   */
  send(message: WorkerMessage): boolean {
    if (!this.connected) return false;
    this.#socket!.send(message.toBinary());
    return true;
  }

  /**
   * Connects, registers, and keeps reconnecting until `close()`. Resolves after `close()`; rejects
   * when the server cannot be reached `maxAttempts` times in a row.
   */
  async run(): Promise<void> {
    let attempts = 0;
    const max = this.#o.maxAttempts ?? MAX_RECONNECT_ATTEMPTS;
    while (!this.#closed) {
      try {
        const session = await this.#open();
        attempts = 0;
        await session;
        if (this.#closed) break;
        // As agents-js: a lost session counts as the first failed attempt (2 s before trying again).
        attempts = 1;
        this.#o.logger.warn({ delaySeconds: 2 }, 'worker connection to LiveKit lost; reconnecting');
        await sleep(2_000);
      } catch (e) {
        if (this.#closed) break;
        if (attempts >= max) throw new Error(`could not reach LiveKit's agent service (${this.#o.url}) after ${attempts} attempts: ${e instanceof Error ? e.message : String(e)}`);
        attempts++;
        const delay = Math.min(attempts * 2, MAX_RECONNECT_DELAY_S);
        this.#o.logger.warn({ err: e, attempt: attempts, maxAttempts: max, delaySeconds: delay }, 'could not connect to LiveKit; retrying');
        await sleep(delay * 1000);
      }
    }
  }

  /** Closes the socket for good (after the last status update). */
  close(): void {
    this.#closed = true;
    this.#registered = false;
    this.#socket?.close();
  }

  /** Opens and registers a socket; resolves with a promise that settles when that socket closes. */
  async #open(): Promise<Promise<void>> {
    const token = new AccessToken(this.#o.apiKey, this.#o.apiSecret);
    token.addGrant({ agent: true });
    const base = new URL(this.#o.url);
    base.protocol = base.protocol.replace('http', 'ws');
    const socket = new WebSocket(new URL(`${base.toString().replace(/\/?$/, '/')}agent`), { headers: { authorization: `Bearer ${await token.toJwt()}` } });
    this.#socket = socket;
    this.#registered = false;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', (e) => this.#o.logger.debug({ err: e }, 'worker socket error'));

    const registration = new Promise<RegisterWorkerResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no registration answer')), REGISTER_TIMEOUT_MS);
      socket.once('open', () => {
        const { permissions } = this.#o;
        socket.send(
          new WorkerMessage({
            message: {
              case: 'register',
              value: {
                type: JobType.JT_ROOM,
                agentName: this.#o.agentName,
                version: this.#o.version,
                allowedPermissions: new ParticipantPermission({ ...permissions, agent: true }),
              },
            },
          }).toBinary(),
        );
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return this.#o.logger.warn('unexpected text message on the worker socket; ignored');
        let message: ServerMessage;
        try {
          message = ServerMessage.fromBinary(new Uint8Array(data));
        } catch (e) {
          return this.#o.logger.warn({ err: e }, 'unreadable message on the worker socket; ignored');
        }
        if (!this.#registered) {
          if (message.message.case !== 'register') return reject(new Error(`expected the registration answer first, got ${message.message.case}`));
          clearTimeout(timer);
          this.#registered = true;
          return resolve(message.message.value);
        }
        this.#o.onMessage(message);
      });
      void closed.then(() => {
        clearTimeout(timer);
        reject(new Error('the socket closed before registration'));
      });
    });
    try {
      const answer = await registration;
      this.#o.logger.info({ workerId: answer.workerId, agentName: this.#o.agentName, serverVersion: answer.serverInfo?.version }, 'registered worker');
      this.#o.onRegistered(answer.workerId);
    } catch (e) {
      socket.terminate();
      throw e;
    }
    return closed.then(() => {
      this.#registered = false;
    });
  }
}
