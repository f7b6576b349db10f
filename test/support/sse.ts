export interface SseEvent {
  event: string;
  data: any;
}

/**
 * Reads a server-sent event stream to its end (or until `timeoutMs`), returning the parsed events.
 * `onEvent` sees each event as it arrives.
 */
export async function readSse(
  url: string,
  apiKey: string,
  options: { timeoutMs?: number; onEvent?: (event: SseEvent) => void } = {},
): Promise<{ status: number; contentType: string | null; events: SseEvent[]; body?: any }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs ?? 20_000);
  try {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${apiKey}`, Accept: 'text/event-stream' }, signal: abort.signal });
    const contentType = response.headers.get('content-type');
    if (!contentType?.startsWith('text/event-stream')) {
      return { status: response.status, contentType, events: [], body: await response.json() };
    }
    const events: SseEvent[] = [];
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let split: number;
      while ((split = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        const parsed = { event, data: JSON.parse(data.join('\n')) };
        events.push(parsed);
        options.onEvent?.(parsed);
      }
    }
    return { status: response.status, contentType, events };
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value other than undefined. */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
