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
  DEFAULT_WORKER_CONFIG,
  GenerationConfig,
  WorkerConfig,
} from '../../src/config/app-config';
import { createApp } from '../../src/http/create-app';

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
}

/** A real app on SQLite in a temp folder, listening on loopback with an ephemeral port. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const root = mkdtempSync(join(tmpdir(), 'saas-test-'));
  const dataDir = join(root, 'data');
  const modelsDir = options.modelsDir ?? join(root, 'models');
  const config: AppConfig = {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    modelsDir,
    adminToken: 'adminToken' in options ? options.adminToken : TEST_ADMIN_TOKEN,
    database: { type: 'sqlite', path: join(dataDir, 'saas.sqlite') },
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    // Tests drive a worker in-process when they need one; the app never forks here.
    worker: { ...DEFAULT_WORKER_CONFIG, embedded: false, ...options.worker },
    generation: { ...DEFAULT_GENERATION_CONFIG, ...options.generation },
    logLevels: [],
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
