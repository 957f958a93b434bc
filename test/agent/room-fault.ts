/**
 * Fault injection for test/agent/rooms-in-process.test.ts, preloaded into the worker process
 * (`node --import`): in a meeting whose id starts with "faulty-", handing its FAULT_AT-th utterance
 * to the processor throws where nobody catches it (a timer callback of that room's pipeline), the
 * way a bug or a corrupt frame would. Rooms of other meetings are untouched.
 */
import { UtteranceProcessor } from '../../src/agent/utterance-processor.js';

export const FAULTY_MEETING_PREFIX = 'faulty-';
/** The utterance (1-based, in the meeting) whose hand-over throws: the earlier ones go through. */
export const FAULT_AT = 4;

const submitted = new WeakMap<UtteranceProcessor, number>();
const submit = UtteranceProcessor.prototype.submit;
UtteranceProcessor.prototype.submit = function (this: UtteranceProcessor, u: Parameters<UtteranceProcessor['submit']>[0]): void {
  const { meetingId } = (this as unknown as { opts: { meetingId: string } }).opts;
  const n = (submitted.get(this) ?? 0) + 1;
  submitted.set(this, n);
  if (meetingId.startsWith(FAULTY_MEETING_PREFIX) && n === FAULT_AT) {
    setImmediate(() => {
      throw new Error(`injected fault in the pipeline of meeting ${meetingId}`);
    });
    return;
  }
  submit.call(this, u);
};
