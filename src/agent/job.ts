/**
 * The job a worker runs in a process of its own for each dispatch: one meeting in one room.
 * Loaded by @livekit/agents' job process (default export); `prewarm` loads the VAD model once per
 * process, before any dispatch arrives.
 */
import { AutoSubscribe, defineAgent, type JobContext, type JobProcess } from '@livekit/agents';
import { runMeetingJob } from './meeting-job.js';
import { SileroVad } from './silero-vad.js';

export default defineAgent({
  prewarm: async (proc: JobProcess) => {
    proc.userData.vad = await SileroVad.load();
  },
  entry: async (ctx: JobContext) => {
    const vad = (ctx.proc.userData.vad as SileroVad | undefined) ?? (await SileroVad.load());
    await runMeetingJob(ctx, { vad }, () => ctx.connect(undefined, AutoSubscribe.SUBSCRIBE_NONE));
  },
});
