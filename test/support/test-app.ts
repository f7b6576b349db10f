import type { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import {
  AppConfig,
  AppLimits,
  DEFAULT_GENERATION_CONFIG,
  DEFAULT_LIMITS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_WEBHOOK_CONFIG,
  DEFAULT_WORKER_CONFIG,
  GenerationConfig,
  LimitsConfig,
  WebhookConfig,
  WorkerConfig,
} from '../../src/config/app-config';
import { createApp } from '../../src/create-app';
import { createTestDatabase } from './test-database';
import type { StorageConfig } from '../../src/storage/storage-config';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  baseUrl: string;
  dataDir: string;
  modelsDir: string;
  http(): ReturnType<typeof request>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  limits?: Partial<AppLimits>;
  modelsDir?: string;
  adminToken?: string | undefined;
  worker?: Partial<WorkerConfig>;
  generation?: Partial<GenerationConfig>;
  /** Tests that are not about limits get none, so they never trip over them. */
  tenantLimits?: Partial<LimitsConfig>;
  webhooks?: Partial<WebhookConfig>;
  redisUrl?: string;
  metricsToken?: string;
  /** Blob storage; default: local files under the temp DATA_DIR. */
  storage?: StorageConfig;
}

const NO_TENANT_LIMITS: LimitsConfig = { ratePerMinute: 0, generationsPerMinute: 0, concurrentFineTunes: 0, imagesPerDataset: 0, storageBytes: 0 };

/**
 * A real app on SQLite in a temp folder (or a fresh PostgreSQL database in the PostgreSQL tier),
 * listening on loopback with an ephemeral port.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const root = mkdtempSync(join(tmpdir(), 'saas-test-'));
  const dataDir = join(root, 'data');
  const modelsDir = options.modelsDir ?? join(root, 'models');
  const database = await createTestDatabase(dataDir);
  const config: AppConfig = {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    modelsDir,
    adminToken: 'adminToken' in options ? options.adminToken : TEST_ADMIN_TOKEN,
    database: database.config,
    redisUrl: options.redisUrl,
    metricsToken: options.metricsToken,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    tenantLimits: { ...NO_TENANT_LIMITS, ...options.tenantLimits },
    webhooks: { ...DEFAULT_WEBHOOK_CONFIG, ...options.webhooks },
    // Tests drive a worker in-process when they need one; the app never forks here.
    worker: { ...DEFAULT_WORKER_CONFIG, embedded: false, ...options.worker },
    generation: { ...DEFAULT_GENERATION_CONFIG, ...options.generation },
    storage: options.storage ?? { driver: 'local' },
    logLevels: [],
    logFormat: 'text',
    shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
  };
  const { app } = await createApp(config);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return {
    app,
    config,
    baseUrl,
    dataDir,
    modelsDir,
    http: () => request(baseUrl),
    close: async () => {
      await app.close();
      await database.drop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Creates a tenant through the admin endpoint and returns its id and API key. */
export async function createTenant(testApp: TestApp, name = 'Acme'): Promise<{ id: string; apiKey: string }> {
  const response = await testApp.http().post('/v1/tenants').set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`).send({ name });
  if (response.status !== 201) throw new Error(`createTenant failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

export function bearer(key: string): [string, string] {
  return ['Authorization', `Bearer ${key}`];
}
