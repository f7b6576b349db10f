/*
 * TypeScript client for the Style-as-a-Service API (package @style-as-a-service/client): the types in
 * `schema.ts` are generated from `openapi/openapi.json` (`npm run sdk`), the runtime is openapi-fetch.
 *
 *   const api = createSaasClient({ baseUrl: 'http://localhost:3000', apiKey });
 *   const { data, error } = await api.POST('/v1/datasets', { body: { name: 'Mood board' } });
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths };
export type Schemas = components['schemas'];
export type SaasClient = Client<paths>;

export interface SaasClientOptions {
  baseUrl: string;
  /** A tenant API key, or the admin token for /v1/tenants. */
  apiKey?: string;
  fetch?: typeof globalThis.fetch;
}

export function createSaasClient(options: SaasClientOptions): SaasClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl.replace(/\/+$/, ''), fetch: options.fetch });
  if (options.apiKey) {
    const authorization = `Bearer ${options.apiKey}`;
    client.use({
      onRequest({ request }) {
        request.headers.set('Authorization', authorization);
        return request;
      },
    });
  }
  return client;
}

/** A form part: text, or file bytes with a file name. */
export type MultipartPart = [field: string, value: string] | [field: string, value: Blob | Uint8Array, filename: string, type?: string];

/**
 * Request options for the multipart endpoints (dataset uploads, adapter import): the parts are sent
 * as FormData in the given order, e.g.
 * `api.POST('/v1/adapters', multipart([['name', 'acme'], ['file', bytes, 'acme.safetensors']]))`.
 */
export function multipart(parts: MultipartPart[]): { body: never; bodySerializer: () => FormData } {
  return {
    body: {} as never,
    bodySerializer: () => {
      const form = new FormData();
      for (const [field, value, filename, type] of parts) {
        if (typeof value === 'string') form.append(field, value);
        else if (value instanceof Blob) form.append(field, value, filename);
        // Copied into a plain ArrayBuffer: a view of a SharedArrayBuffer is no BlobPart.
        else form.append(field, new Blob([new Uint8Array(value)], { type: type ?? 'application/octet-stream' }), filename);
      }
      return form;
    },
  };
}
