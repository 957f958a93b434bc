/**
 * How the control plane asks a running agent to stop transcribing a meeting, wherever that agent
 * runs: a Redis key (seen by an agent that starts later or missed the message) plus a pub/sub
 * message (seen at once). Removing the agent participant from the room
 * (RoomServiceClient.removeParticipant) is the other way, and is treated as a host stop too.
 */
import type { Redis } from 'ioredis';
import { meetingKeys, STOP_REQUEST_SECONDS, stopChannel } from './redis-keys.js';

const stopKey = meetingKeys.stopRequested;

/** Asks the agent of a meeting to stop (API side). The request is kept for a day. */
export async function requestStop(redis: Redis, meetingId: string): Promise<void> {
  await redis.set(stopKey(meetingId), new Date().toISOString(), 'EX', STOP_REQUEST_SECONDS);
  await redis.publish(stopChannel(meetingId), 'stop');
}

/** Whether a stop was requested for the meeting (within the last day). */
export async function stopRequested(redis: Redis, meetingId: string): Promise<boolean> {
  return (await redis.exists(stopKey(meetingId))) === 1;
}

/** Clears a stop request, so that a later dispatch for the same meeting id may transcribe again. */
export async function clearStop(redis: Redis, meetingId: string): Promise<void> {
  await redis.del(stopKey(meetingId));
}

/**
 * Calls `onStop` once when a stop is requested (now or later). `subscriber` must be a connection
 * of its own (a subscribed ioredis connection cannot run other commands). Returns a disposer.
 */
export async function watchStop(redis: Redis, subscriber: Redis, meetingId: string, onStop: () => void): Promise<() => Promise<void>> {
  let fired = false;
  const fire = () => {
    if (!fired) {
      fired = true;
      onStop();
    }
  };
  const channel = stopChannel(meetingId);
  const listener = (ch: string) => {
    if (ch === channel) fire();
  };
  subscriber.on('message', listener);
  await subscriber.subscribe(channel);
  // Checked after subscribing, so a request made in between is not missed.
  if ((await redis.exists(stopKey(meetingId))) === 1) fire();
  return async () => {
    subscriber.off('message', listener);
    await subscriber.unsubscribe(channel).catch(() => undefined);
  };
}
