import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface SendResult {
  statusCode: number | null;
  error?: string;
}

/**
 * One POST. Redirects are not followed (a 3xx is a failed attempt: following one could carry a
 * signed event to another host), the whole exchange has a deadline, and the response body is ignored.
 */
export function postWebhook(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<SendResult> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ statusCode: null, error: 'invalid URL' });
      return;
    }
    const send = target.protocol === 'https:' ? httpsRequest : target.protocol === 'http:' ? httpRequest : undefined;
    if (!send) {
      resolve({ statusCode: null, error: `unsupported protocol ${target.protocol}` });
      return;
    }
    let settled = false;
    let answeredWith: number | null = null;
    const done = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(result);
    };
    // A fresh connection per attempt: a pooled keep-alive socket the receiver already closed would fail the attempt.
    const req = send(target, { method: 'POST', agent: false, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' } }, (res) => {
      answeredWith = res.statusCode ?? null;
      res.resume();
      res.on('end', () => done({ statusCode: res.statusCode ?? null }));
      res.on('error', (error) => done({ statusCode: res.statusCode ?? null, error: error.message }));
    });
    // The deadline waits one more turn of the event loop before giving up: when this process was busy
    // (a training step, a graph build) past the deadline, an answer already waiting on the socket counts.
    const deadline = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        req.destroy();
        if (answeredWith !== null) done({ statusCode: answeredWith });
        else done({ statusCode: null, error: `timed out after ${timeoutMs} ms` });
      });
    }, timeoutMs);
    req.on('error', (error) => done({ statusCode: null, error: error.message }));
    req.end(body);
  });
}
