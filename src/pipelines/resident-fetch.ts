/**
 * fetch for the clients that send meeting content over HTTP (speech-to-text, Mistral): it never
 * follows a redirect. The data-residency guard (residency.ts) checked the host a setting names; a
 * redirect would send the same request, audio or transcript included, to a host nobody checked.
 * A 3xx answer with a Location becomes a RedirectRefusedError naming the setting and the host it
 * pointed to, and is not retried.
 */
import { HTTPClient } from '@mistralai/mistralai/lib/http.js';

export class RedirectRefusedError extends Error {
  constructor(
    /** The setting whose endpoint redirected, e.g. STT_BASE_URL. */
    readonly setting: string,
    readonly status: number,
    /** The host the redirect pointed to (no path or query: they may carry tokens). */
    readonly toHost: string,
  ) {
    super(
      `${setting}: the endpoint answered ${status} redirecting to host "${toHost}"; redirects are not followed ` +
        `(meeting content goes only to the host you configured). Set ${setting} to the final address.`,
    );
    this.name = 'RedirectRefusedError';
  }
}

/** `base` (global fetch by default) with redirects refused. */
export function residentFetch(setting: string, base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const res = await base(input, { ...init, redirect: 'manual' });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      await res.body?.cancel().catch(() => undefined);
      const from = input instanceof Request ? input.url : String(input);
      let toHost = '(unreadable Location)';
      try {
        toHost = new URL(location, from).host;
      } catch {
        // keep the placeholder
      }
      throw new RedirectRefusedError(setting, res.status, toHost);
    }
    return res;
  };
}

/** The Mistral SDK's HTTP client on residentFetch. */
export function residentMistralHttpClient(setting: string): HTTPClient {
  const fetcher = residentFetch(setting);
  return new HTTPClient({ fetcher: (input, init) => fetcher(input, init) });
}
