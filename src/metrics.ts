/**
 * The product's Prometheus metrics, in one registry shared by every role (API, agent, pipeline), so
 * that names and labels are defined once. Each process exposes the metrics it moves; the API also
 * exposes the cluster-wide views (active transcriptions, queue depths) that it reads from Redis at
 * scrape time. Labels never carry meeting content or personal data: no room names, no identities.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
registry.setDefaultLabels({ service: 'meeting-agent' });

let defaultsCollected = false;
/** Node process metrics (CPU, memory, event loop lag), once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: registry, prefix: 'meeting_agent_' });
}

// --- Live transcription (agent) and pipeline ------------------------------------------------------

/** Set at scrape time by the API from the meeting store (every agent process counts). */
export const transcriptionsActive = new Gauge({
  name: 'meeting_agent_transcriptions_active',
  help: 'Meetings being transcribed now (rooms held by a meeting that has not ended), across all workers.',
  registers: [registry],
});

/** Counted where a segment is stored (once per segment id, whichever pipeline process stores it). */
export const segmentsTotal = new Counter({
  name: 'meeting_agent_segments_total',
  help: 'Transcript segments stored, by outcome (live: transcribed during the meeting; deferred: transcribed later from the spool after a speech-to-text failure; empty: nothing left to say after filtering).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const sttLatency = new Histogram({
  name: 'meeting_agent_stt_latency_seconds',
  help: 'Duration of one speech-to-text request (retries included, queueing for a slot excluded), by provider.',
  labelNames: ['provider'] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60],
  registers: [registry],
});

export const sttFailures = new Counter({
  name: 'meeting_agent_stt_failures_total',
  help: 'Speech-to-text requests that failed after their retries, by provider and kind (timeout, http, network, invalid_response, ...).',
  labelNames: ['provider', 'kind'] as const,
  registers: [registry],
});

/** Set at scrape time by the API from BullMQ. */
export const queueDepth = new Gauge({
  name: 'meeting_agent_queue_jobs',
  help: 'Jobs in each BullMQ queue, by state (waiting, active, delayed, failed).',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
});

export const minutesProduced = new Counter({
  name: 'meeting_agent_minutes_produced_total',
  help: 'Meeting finalisations, by outcome (minutes; no-speech: too little speech, an honest note instead; failed: no minutes, nothing sent).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const emailsSent = new Counter({
  name: 'meeting_agent_emails_sent_total',
  help: 'Summary emails, by outcome (sent; failed: one failed attempt, retried by the queue).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const recipientsIgnored = new Counter({
  name: 'meeting_agent_recipient_addresses_ignored_total',
  help: 'Participant `email` attributes not used as recipients because nothing vouched for them, by reason (unsigned, bad_signature, unverifiable, malformed); counted when the meeting is finalised. The addresses are never kept.',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const minutesTokens = new Counter({
  name: 'meeting_agent_minutes_tokens_total',
  help: 'Mistral tokens used for minutes, by kind (prompt, completion): what the minutes cost.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

// --- Control plane (API) --------------------------------------------------------------------------

export const httpRequests = new Counter({
  name: 'meeting_agent_http_requests_total',
  help: 'HTTP requests served by the API, by method, route pattern and status code.',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'meeting_agent_http_request_duration_seconds',
  help: 'Time to answer an API request, by method and route pattern.',
  labelNames: ['method', 'route'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const transcriptionStarts = new Counter({
  name: 'meeting_agent_transcription_starts_total',
  help: 'Start requests, by outcome (dispatched, already_running, stt_unavailable, room_not_found, dispatch_failed).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const transcriptionStops = new Counter({
  name: 'meeting_agent_transcription_stops_total',
  help: 'Stop requests that ended a running transcription.',
  registers: [registry],
});

export const agentRecoveries = new Counter({
  name: 'meeting_agent_agent_recoveries_total',
  help: "A meeting's agent leaving the room while its meeting runs, by outcome (redispatched: it was lost, its process died or its connection timed out, and the agent was sent again; bound_reached, room_gone, no_human: lost, but the meeting was ended instead; left: it left on its own, was removed or the room closed, so the meeting ended as before; duplicate, agent_present: a late or repeated report of a loss already handled).",
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const webhooksReceived = new Counter({
  name: 'meeting_agent_webhooks_total',
  help: 'LiveKit webhooks, by event and outcome (processed, ignored, rejected, replayed, failed).',
  labelNames: ['event', 'outcome'] as const,
  registers: [registry],
});

export const sttProbeFailures = new Counter({
  name: 'meeting_agent_stt_probe_failures_total',
  help: 'Pre-dispatch speech-to-text probes that found the endpoint unusable.',
  registers: [registry],
});
