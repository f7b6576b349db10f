import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { resolveAdminToken } from '../../src/config/admin-token';
import {
  ConfigError,
  DEFAULT_GENERATION_CONFIG,
  DEFAULT_LIMITS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_TENANT_LIMITS,
  DEFAULT_WEBHOOK_CONFIG,
  DEFAULT_WORKER_CONFIG,
  loadConfig,
  MB,
} from '../../src/config/app-config';
import { buildDataSourceOptions } from '../../src/database/data-source-options';

describe('configuration', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.dataDir, resolve('./data'));
    assert.equal(config.modelsDir, resolve('./models'));
    assert.equal(config.adminToken, undefined);
    assert.deepEqual(config.database, { type: 'sqlite', path: resolve('./data/saas.sqlite') });
    assert.deepEqual(config.limits, DEFAULT_LIMITS);
    assert.equal(config.limits.jsonBodyBytes, 1 * MB);
  });

  it('reads the environment', () => {
    const config = loadConfig({
      PORT: '8080',
      DATA_DIR: '/srv/saas',
      MODELS_DIR: '/srv/models',
      ADMIN_TOKEN: 'a-long-enough-admin-token',
      MAX_UPLOAD_MB: '16',
      LOG_LEVEL: 'warn',
    });
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, '/srv/saas');
    assert.equal(config.modelsDir, '/srv/models');
    assert.equal(config.adminToken, 'a-long-enough-admin-token');
    assert.deepEqual(config.database, { type: 'sqlite', path: '/srv/saas/saas.sqlite' });
    assert.equal(config.limits.uploadRequestBytes, 16 * MB);
    assert.deepEqual(config.logLevels, ['fatal', 'error', 'warn']);
  });

  it('selects the database driver from DATABASE_URL', () => {
    assert.deepEqual(loadConfig({ DATABASE_URL: 'postgres://saas:pw@db:5432/saas' }).database, {
      type: 'postgres',
      url: 'postgres://saas:pw@db:5432/saas',
    });
    assert.deepEqual(loadConfig({ DATABASE_URL: 'sqlite:/var/lib/saas/db.sqlite' }).database, {
      type: 'sqlite',
      path: '/var/lib/saas/db.sqlite',
    });
    const pg = buildDataSourceOptions({ type: 'postgres', url: 'postgres://saas:pw@db:5432/saas' });
    assert.equal(pg.type, 'postgres');
    assert.equal(pg.synchronize, false);
    assert.equal(pg.migrationsRun, true);
  });

  it('configures the worker and generation batching', () => {
    const defaults = loadConfig({});
    assert.deepEqual(defaults.worker, { ...DEFAULT_WORKER_CONFIG, threads: undefined });
    assert.deepEqual(defaults.generation, DEFAULT_GENERATION_CONFIG);
    assert.equal(defaults.worker.embedded, true);
    assert.equal(defaults.generation.batchWindowMs, 15);
    const custom = loadConfig({
      EMBEDDED_WORKER: 'false',
      WORKER_LEASE_S: '30',
      WORKER_POLL_MS: '200',
      FINE_TUNE_CHECKPOINT_EVERY: '10',
      TRAINING_THREADS: '3',
      GENERATION_BATCH_WINDOW_MS: '0',
      GENERATION_BATCH_MAX_IMAGES: '32',
      ADAPTER_CACHE_SIZE: '8',
      INFERENCE_THREADS: '2',
      GENERATION_MEMORY_BUDGET_MB: '512',
    });
    assert.deepEqual(custom.worker, { embedded: false, leaseMs: 30_000, pollMs: 200, checkpointEvery: 10, threads: 3 });
    assert.deepEqual(custom.generation, { batchWindowMs: 0, batchMaxImages: 32, adapterCacheSize: 8, threads: 2, memoryBudgetBytes: 512 * 1024 * 1024 });
    assert.equal(defaults.generation.memoryBudgetBytes, 8192 * 1024 * 1024);
    assert.throws(() => loadConfig({ EMBEDDED_WORKER: 'maybe', GENERATION_BATCH_MAX_IMAGES: '0', WORKER_LEASE_S: '1', GENERATION_MEMORY_BUDGET_MB: '0' }), (error: unknown) => {
      const text = (error as ConfigError).problems.join('\n');
      for (const name of ['EMBEDDED_WORKER', 'GENERATION_BATCH_MAX_IMAGES', 'WORKER_LEASE_S', 'GENERATION_MEMORY_BUDGET_MB']) assert.match(text, new RegExp(name));
      return true;
    });
  });

  it('configures scale-out, metrics, rate limits, quotas and webhooks', () => {
    const defaults = loadConfig({});
    assert.deepEqual([defaults.redisUrl, defaults.metricsToken], [undefined, undefined]);
    assert.deepEqual(defaults.tenantLimits, DEFAULT_TENANT_LIMITS);
    assert.deepEqual(defaults.webhooks, DEFAULT_WEBHOOK_CONFIG);
    const custom = loadConfig({
      REDIS_URL: 'redis://cache:6379/2',
      METRICS_TOKEN: 'scrape-me',
      RATE_LIMIT_PER_MINUTE: '0',
      GENERATION_RATE_LIMIT_PER_MINUTE: '5',
      QUOTA_CONCURRENT_FINE_TUNES: '3',
      QUOTA_IMAGES_PER_DATASET: '50',
      QUOTA_STORAGE_MB: '100',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_BACKOFF_MS: '500',
    });
    assert.equal(custom.redisUrl, 'redis://cache:6379/2');
    assert.equal(custom.metricsToken, 'scrape-me');
    assert.deepEqual(custom.tenantLimits, { ratePerMinute: 0, generationsPerMinute: 5, concurrentFineTunes: 3, imagesPerDataset: 50, storageBytes: 100 * MB });
    assert.deepEqual(custom.webhooks, { ...DEFAULT_WEBHOOK_CONFIG, timeoutMs: 1000, maxAttempts: 3, backoffMs: 500 });
    assert.throws(() => loadConfig({ REDIS_URL: 'http://cache', RATE_LIMIT_PER_MINUTE: '-1', WEBHOOK_MAX_ATTEMPTS: '0' }), (error: unknown) => {
      const text = (error as ConfigError).problems.join('\n');
      for (const name of ['REDIS_URL', 'RATE_LIMIT_PER_MINUTE', 'WEBHOOK_MAX_ATTEMPTS']) assert.match(text, new RegExp(name));
      return true;
    });
  });

  it('configures the log format and the shutdown deadline', () => {
    const defaults = loadConfig({});
    assert.deepEqual([defaults.logFormat, defaults.shutdownTimeoutMs], ['text', DEFAULT_SHUTDOWN_TIMEOUT_MS]);
    assert.equal(DEFAULT_SHUTDOWN_TIMEOUT_MS, 30_000);
    const custom = loadConfig({ LOG_FORMAT: 'JSON', SHUTDOWN_TIMEOUT_MS: '5000' });
    assert.deepEqual([custom.logFormat, custom.shutdownTimeoutMs], ['json', 5000]);
    assert.throws(() => loadConfig({ LOG_FORMAT: 'pretty', SHUTDOWN_TIMEOUT_MS: '10s' }), (error: unknown) => {
      const problems = (error as ConfigError).problems;
      assert.ok(problems.includes('LOG_FORMAT must be text or json, got "pretty"'), problems.join('\n'));
      assert.ok(problems.includes('SHUTDOWN_TIMEOUT_MS must be an integer, got "10s"'), problems.join('\n'));
      return true;
    });
    assert.throws(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: '0' }), /SHUTDOWN_TIMEOUT_MS must be between 100 and 3600000/);
  });

  it('reports every invalid variable at once', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', ADMIN_TOKEN: 'short', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', MAX_UPLOAD_MB: '0' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        const text = error.problems.join('\n');
        for (const name of ['PORT', 'ADMIN_TOKEN', 'DATABASE_URL', 'LOG_LEVEL', 'MAX_UPLOAD_MB']) assert.match(text, new RegExp(name));
        return true;
      },
    );
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT must be between 0 and 65535/);
  });
});

describe('admin token', () => {
  it('is generated once into DATA_DIR with mode 0600 and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'saas-admin-'));
    try {
      const first = resolveAdminToken(dir, undefined);
      assert.equal(first.source, 'generated');
      assert.equal(first.path, join(dir, 'admin-token'));
      assert.ok(first.token.length >= 32);
      assert.equal(statSync(first.path!).mode & 0o777, 0o600);
      assert.equal(readFileSync(first.path!, 'utf8').trim(), first.token);

      const second = resolveAdminToken(dir, undefined);
      assert.equal(second.source, 'file');
      assert.equal(second.token, first.token);

      const fromEnv = resolveAdminToken(dir, 'operator-chosen-token-123');
      assert.deepEqual(fromEnv, { token: 'operator-chosen-token-123', source: 'env' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm configuration', () => {
  it('has no project setting npm does not know (npm warns about those on every command)', () => {
    const result = spawnSync('npm', ['config', 'get', 'fund'], { cwd: process.cwd(), encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Unknown (project|user|builtin) config/);
  });

  it('decides for every install script: native builds run, the ONNX Runtime CUDA download does not', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { allowScripts?: Record<string, boolean> };
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    const allowScripts = manifest.allowScripts ?? {};
    assert.deepEqual(withScripts.filter((name) => !(name in allowScripts)), [], 'packages with install scripts missing from allowScripts');
    // The CPU build ships in the package: the script only downloads CUDA binaries (needs the internet).
    assert.equal(allowScripts['onnxruntime-node'], false);
    for (const name of ['better-sqlite3', 'sharp']) assert.equal(allowScripts[name], true, name);
  });
});
