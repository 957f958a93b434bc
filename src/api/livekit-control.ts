/**
 * What the API asks of the LiveKit server: does the room exist, dispatch the agent, and make it
 * leave. Dispatch goes through the AgentDispatch API, never a token-embedded dispatch (that only
 * fires when the token's user creates the room, and a full room refuses that user).
 */
import { DispatchMetadataSchema, parseDispatchMetadata, type DispatchMetadata } from '../meeting/dispatch-metadata.js';
import { AGENT_ATTR } from '../meeting/livekit-contract.js';
import { AgentDispatchClient, RoomServiceClient, type ParticipantInfo } from 'livekit-server-sdk';

// ParticipantInfo.Kind.AGENT and EGRESS in LiveKit's protocol (the enum itself is not re-exported by the SDK).
const KIND_AGENT = 4;
const KIND_EGRESS = 2;


export class LiveKitControl {
  readonly #dispatch: AgentDispatchClient;
  readonly #rooms: RoomServiceClient;
  readonly #probe: RoomServiceClient;

  constructor(
    url: string,
    apiKey: string,
    apiSecret: string,
    readonly agentName: string,
  ) {
    const httpUrl = url.replace(/^ws(s?):/, 'http$1:');
    this.#dispatch = new AgentDispatchClient(httpUrl, apiKey, apiSecret, { requestTimeout: 10 });
    this.#rooms = new RoomServiceClient(httpUrl, apiKey, apiSecret, { requestTimeout: 10 });
    this.#probe = new RoomServiceClient(httpUrl, apiKey, apiSecret, { requestTimeout: 2 });
  }

  /** The room's sid, or null when no such room is open. */
  async roomSid(room: string): Promise<string | null> {
    const rooms = await this.#rooms.listRooms([room]);
    return rooms.find((r) => r.name === room)?.sid ?? null;
  }

  /** The participants in the room now (none when the room is not open). */
  async participants(room: string): Promise<ParticipantInfo[]> {
    return this.#rooms.listParticipants(room);
  }

  async dispatch(room: string, metadata: DispatchMetadata): Promise<string> {
    // The agent parses it with the same schema: what it would refuse is never sent.
    const d = await this.#dispatch.createDispatch(room, this.agentName, { metadata: JSON.stringify(DispatchMetadataSchema.parse(metadata)) });
    return d.id;
  }

  /**
   * Whether a worker took the dispatch (LiveKit lists a job for it). A dispatch no worker took is
   * dropped for good: LiveKit sends it only when created ("no worker is available" otherwise).
   */
  async dispatchTaken(room: string, dispatchId: string): Promise<boolean> {
    const d = await this.#dispatch.getDispatch(dispatchId, room);
    return (d?.state?.jobs.length ?? 0) > 0;
  }

  /** This agent's dispatches in a room that belong to the meeting (by id, or by their metadata). */
  async dispatchesOf(room: string, meetingId: string, knownId: string | null): Promise<string[]> {
    const all = await this.#dispatch.listDispatch(room);
    return all
      .filter((d) => d.agentName === this.agentName && (d.id === knownId || metadataMeetingId(d.metadata) === meetingId))
      .map((d) => d.id);
  }

  /**
   * Makes the meeting's agent leave even if it missed the stop signal: deletes its dispatches (no
   * new agent is sent, a pending one is cancelled) and removes its participant from the room.
   * Returns what was done; a room that has closed meanwhile is not an error.
   */
  async removeAgent(room: string, meetingId: string, knownDispatchId: string | null): Promise<{ dispatches: number; participants: number }> {
    let dispatches = 0;
    let participants = 0;
    const ids = await this.dispatchesOf(room, meetingId, knownDispatchId).catch(() => (knownDispatchId ? [knownDispatchId] : []));
    for (const id of ids) {
      await this.#dispatch.deleteDispatch(id, room).then(
        () => dispatches++,
        () => undefined, // already gone
      );
    }
    const present = await this.#rooms.listParticipants(room).catch(() => [] as ParticipantInfo[]);
    for (const p of present) {
      if (isAgentOf(p, meetingId)) {
        await this.#rooms.removeParticipant(room, p.identity).then(
          () => participants++,
          () => undefined,
        );
      }
    }
    return { dispatches, participants };
  }

  /** Readiness: the server answers an authenticated call within 2 s. */
  async ping(): Promise<void> {
    await this.#probe.listRooms(['meeting-agent-readiness-probe']);
  }
}

/** The meeting's agent participant: kind agent, and it announces the meeting id in its attributes. */
export function isAgentOf(p: Pick<ParticipantInfo, 'kind' | 'attributes'>, meetingId: string): boolean {
  return p.kind === KIND_AGENT && p.attributes[AGENT_ATTR.meetingId] === meetingId;
}

export function isAgent(p: Pick<ParticipantInfo, 'kind'>): boolean {
  return p.kind === KIND_AGENT;
}

/**
 * Someone the meeting is for: neither an agent nor an egress (the two kinds LiveKit itself does
 * not count as keeping a room alive, `IsDependent()`).
 */
export function isHuman(p: Pick<ParticipantInfo, 'kind'>): boolean {
  return p.kind !== KIND_AGENT && p.kind !== KIND_EGRESS;
}

function metadataMeetingId(metadata: string): string | null {
  try {
    return parseDispatchMetadata(metadata).meetingId ?? null;
  } catch {
    return null;
  }
}
