import 'reflect-metadata';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  DEFAULT_GENERATION_CONFIG,
  DEFAULT_LIMITS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_TENANT_LIMITS,
  DEFAULT_WEBHOOK_CONFIG,
  DEFAULT_WORKER_CONFIG,
} from '../config/app-config';
import { createApp } from '../create-app';
import { serializeOpenApiDocument } from '../openapi/openapi-document';

/**
 * Writes the OpenAPI spec of the API (sorted keys) without listening on a port:
 * `npm run openapi [-- --out path]`, default `openapi/openapi.json` under the current folder.
 */
export async function generateOpenApiSpec(): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'saas-openapi-'));
  try {
    const { app, document } = await createApp({
      port: 0,
      host: '127.0.0.1',
      dataDir: join(scratch, 'data'),
      modelsDir: join(scratch, 'models'),
      storage: { driver: 'local' },
      adminToken: 'openapi-generation-only-token',
      database: { type: 'sqlite', path: join(scratch, 'data', 'saas.sqlite') },
      limits: DEFAULT_LIMITS,
      tenantLimits: DEFAULT_TENANT_LIMITS,
      webhooks: DEFAULT_WEBHOOK_CONFIG,
      worker: { ...DEFAULT_WORKER_CONFIG, embedded: false },
      generation: DEFAULT_GENERATION_CONFIG,
      logLevels: [],
      logFormat: 'text',
      shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
    });
    await app.close();
    return serializeOpenApiDocument(document);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const outIndex = process.argv.indexOf('--out');
  const out = resolve(outIndex >= 0 && process.argv[outIndex + 1] ? process.argv[outIndex + 1] : 'openapi/openapi.json');
  const spec = await generateOpenApiSpec();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, spec);
  console.log(`Wrote ${out}`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
