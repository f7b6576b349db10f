import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { LogLevel } from '@nestjs/common';
import { parseStorageConfig, type StorageConfig } from '../storage/storage-config';

/** Upload and body limits; one place so the HTTP layer, the services and the docs agree. */
export interface AppLimits {
  /** Largest JSON request body. */
  jsonBodyBytes: number;
  /** Largest multipart request (all parts together). */
  uploadRequestBytes: number;
  /** Largest single image, whether sent as a part or inside a zip. */
  imageBytes: number;
  /** Largest decoded image (width × height). */
  imagePixels: number;
  /** Most file parts in one multipart request. */
  uploadFiles: number;
  /** Most entries read from one zip archive. */
  zipEntries: number;
  /** Largest sum of uncompressed entry sizes in one zip archive (zip-bomb guard). */
  zipUncompressedBytes: number;
  /** Largest adapter file accepted by import. */
  adapterBytes: number;
}

export type DatabaseConfig =
  | { type: 'sqlite'; path: string }
  | { type: 'postgres'; url: string };

/** The fine-tune worker: where it runs and how it holds jobs. */
export interface WorkerConfig {
  /** Fork a worker child process from the API (the one-command default). */
  embedded: boolean;
  /** How long a claimed job stays a worker's without a heartbeat; then another worker resumes it. */
  leaseMs: number;
  /** How often an idle worker looks for queued jobs. */
  pollMs: number;
  /** Training steps between checkpoints (a restarted worker resumes from the last one). */
  checkpointEvery: number;
  /** ONNX Runtime threads for training; undefined: the engine's default (all cores, or ORT_INTRA_OP_THREADS). */
  threads?: number;
  /** Port of a standalone worker's Prometheus endpoint (GET /metrics); undefined: none. */
  metricsPort?: number;
}

/** Inference in the API process. */
export interface GenerationConfig {
  /** How long the first request of a batch waits for others to join it. */
  batchWindowMs: number;
  /** Most images in one engine call. */
  batchMaxImages: number;
  /** Parsed LoRA adapters kept in memory (least recently used are dropped). */
  adapterCacheSize: number;
  /** ONNX Runtime threads for generation in the API process. */
  threads: number;
  /**
   * Estimated activation memory one denoiser call may take (the engine's estimateActivationBytes):
   * larger requests are refused with 400 before anything runs, and batches are split to stay under it.
   */
  memoryBudgetBytes: number;
}

/** Per-tenant request rates (token buckets per API key) and resource quotas; 0 turns a limit off. */
export interface LimitsConfig {
  /** Requests per minute per API key (burst: the same number). */
  ratePerMinute: number;
  /** Stricter bucket for POST /v1/generations, per API key. */
  generationsPerMinute: number;
  /** Fine-tunes queued or running at once per tenant. */
  concurrentFineTunes: number;
  /** Images in one dataset. */
  imagesPerDataset: number;
  /** Bytes of dataset images, adapters and generated images a tenant may store. */
  storageBytes: number;
}

/** Outgoing fine-tune webhooks. */
export interface WebhookConfig {
  /** Per delivery attempt. */
  timeoutMs: number;
  /** Attempts before a delivery is given up. */
  maxAttempts: number;
  /** First retry delay; it doubles per attempt. */
  backoffMs: number;
  /** How often the delivery loop looks for due deliveries. */
  pollMs: number;
}

export type LogFormat = 'text' | 'json';

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  modelsDir: string;
  /** Undefined means: use (or create) the token stored in DATA_DIR. */
  adminToken?: string;
  database: DatabaseConfig;
  /** Scale-out: fine-tune delivery through BullMQ and shared rate limits; undefined = embedded drivers. */
  redisUrl?: string;
  /** Bearer token required by GET /metrics; undefined = open. */
  metricsToken?: string;
  limits: AppLimits;
  tenantLimits: LimitsConfig;
  webhooks: WebhookConfig;
  worker: WorkerConfig;
  generation: GenerationConfig;
  /** Where blobs live: local files under DATA_DIR/objects, or an S3-compatible bucket. */
  storage: StorageConfig;
  /** Nest log levels to print; empty in tests. */
  logLevels: LogLevel[];
  /** `text` (coloured on a terminal only) or `json` (one object per line). */
  logFormat: LogFormat;
  /** After SIGTERM/SIGINT, the process exits with code 1 if shutting down takes longer than this. */
  shutdownTimeoutMs: number;
}

export const MB = 1024 * 1024;

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

export const DEFAULT_LIMITS: AppLimits = {
  jsonBodyBytes: 1 * MB,
  uploadRequestBytes: 64 * MB,
  imageBytes: 10 * MB,
  imagePixels: 40_000_000,
  uploadFiles: 500,
  zipEntries: 2_000,
  zipUncompressedBytes: 512 * MB,
  adapterBytes: 256 * MB,
};

export const DEFAULT_TENANT_LIMITS: LimitsConfig = {
  ratePerMinute: 600,
  generationsPerMinute: 60,
  concurrentFineTunes: 2,
  imagesPerDataset: 1_000,
  storageBytes: 5 * 1024 * MB,
};

export const DEFAULT_WEBHOOK_CONFIG: WebhookConfig = {
  timeoutMs: 5_000,
  maxAttempts: 6,
  backoffMs: 2_000,
  pollMs: 1_000,
};

export const DEFAULT_WORKER_CONFIG: WorkerConfig = {
  embedded: true,
  leaseMs: 60_000,
  pollMs: 1_000,
  checkpointEvery: 25,
};

/**
 * Half the cores for generation: the embedded worker trains on the other half, and on small machines
 * two processes spinning on every core slow each other down far more than they gain.
 */
export const DEFAULT_INFERENCE_THREADS = Math.max(1, Math.floor(availableParallelism() / 2));

export const DEFAULT_GENERATION_CONFIG: GenerationConfig = {
  batchWindowMs: 15,
  batchMaxImages: 16,
  adapterCacheSize: 32,
  threads: DEFAULT_INFERENCE_THREADS,
  memoryBudgetBytes: 8192 * MB,
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number, problems: string[], min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    problems.push(`${name} must be an integer, got "${raw}"`);
    return fallback;
  }
  const value = Number(raw.trim());
  if (value < min || value > max) problems.push(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function megabytes(env: Env, name: string, fallbackBytes: number, problems: string[]): number {
  return positiveInt(env, name, fallbackBytes / MB, problems, 1, 1024 * 1024) * MB;
}

function parseDatabase(url: string | undefined, dataDir: string, problems: string[]): DatabaseConfig {
  if (url === undefined || url.trim() === '') return { type: 'sqlite', path: resolve(dataDir, 'saas.sqlite') };
  const value = url.trim();
  if (/^postgres(ql)?:\/\//i.test(value)) {
    try {
      new URL(value);
    } catch {
      problems.push('DATABASE_URL is not a valid postgres:// URL');
    }
    return { type: 'postgres', url: value };
  }
  if (/^sqlite:/i.test(value)) {
    // sqlite:relative/path, sqlite:/absolute/path or sqlite:///absolute/path
    const path = value.replace(/^sqlite:(\/\/)?/i, '');
    if (path === '') problems.push('DATABASE_URL sqlite: needs a file path');
    return { type: 'sqlite', path: isAbsolute(path) ? path : resolve(path) };
  }
  problems.push('DATABASE_URL must start with postgres://, postgresql:// or sqlite:');
  return { type: 'sqlite', path: resolve(dataDir, 'saas.sqlite') };
}

function parseRedisUrl(raw: string | undefined, problems: string[]): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || !['redis:', 'rediss:'].includes(url.protocol)) problems.push('REDIS_URL must be a redis:// or rediss:// URL');
  return value;
}

function boolean(env: Env, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  problems.push(`${name} must be true or false, got "${env[name]}"`);
  return fallback;
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

function parseLogLevel(raw: string | undefined, problems: string[]): LogLevel[] {
  const value = raw?.trim().toLowerCase() || 'log';
  if (value === 'silent') return [];
  const index = LOG_LEVELS.indexOf(value as LogLevel);
  if (index < 0) {
    problems.push(`LOG_LEVEL must be one of silent, ${LOG_LEVELS.join(', ')}`);
    return LOG_LEVELS.slice(0, 4);
  }
  return LOG_LEVELS.slice(0, index + 1);
}

const LOG_FORMATS: LogFormat[] = ['text', 'json'];

function parseLogFormat(raw: string | undefined, problems: string[]): LogFormat {
  const value = raw?.trim().toLowerCase() || 'text';
  if (LOG_FORMATS.includes(value as LogFormat)) return value as LogFormat;
  problems.push(`LOG_FORMAT must be ${LOG_FORMATS.join(' or ')}, got "${raw}"`);
  return 'text';
}

/** Reads and validates the environment; throws ConfigError listing every problem at once. */
export function loadConfig(env: Env = process.env): AppConfig {
  const problems: string[] = [];
  const port = positiveInt(env, 'PORT', 3000, problems, 0, 65535);
  const host = env.HOST?.trim() || '0.0.0.0';
  const dataDir = resolve(env.DATA_DIR?.trim() || './data');
  const modelsDir = resolve(env.MODELS_DIR?.trim() || './models');
  let adminToken: string | undefined = env.ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken.trim() === '') adminToken = undefined;
  if (adminToken !== undefined && adminToken.length < 16) problems.push('ADMIN_TOKEN must be at least 16 characters');
  const database = parseDatabase(env.DATABASE_URL, dataDir, problems);
  const limits: AppLimits = {
    ...DEFAULT_LIMITS,
    jsonBodyBytes: megabytes(env, 'MAX_JSON_BODY_MB', DEFAULT_LIMITS.jsonBodyBytes, problems),
    uploadRequestBytes: megabytes(env, 'MAX_UPLOAD_MB', DEFAULT_LIMITS.uploadRequestBytes, problems),
    imageBytes: megabytes(env, 'MAX_IMAGE_MB', DEFAULT_LIMITS.imageBytes, problems),
    adapterBytes: megabytes(env, 'MAX_ADAPTER_MB', DEFAULT_LIMITS.adapterBytes, problems),
  };
  const worker: WorkerConfig = {
    embedded: boolean(env, 'EMBEDDED_WORKER', DEFAULT_WORKER_CONFIG.embedded, problems),
    leaseMs: positiveInt(env, 'WORKER_LEASE_S', DEFAULT_WORKER_CONFIG.leaseMs / 1000, problems, 5, 86_400) * 1000,
    pollMs: positiveInt(env, 'WORKER_POLL_MS', DEFAULT_WORKER_CONFIG.pollMs, problems, 50, 60_000),
    checkpointEvery: positiveInt(env, 'FINE_TUNE_CHECKPOINT_EVERY', DEFAULT_WORKER_CONFIG.checkpointEvery, problems, 1, 1_000_000),
    threads: env.TRAINING_THREADS?.trim() ? positiveInt(env, 'TRAINING_THREADS', 1, problems, 1, 1024) : undefined,
    ...(env.WORKER_METRICS_PORT?.trim() ? { metricsPort: positiveInt(env, 'WORKER_METRICS_PORT', 9464, problems, 0, 65535) } : {}),
  };
  const generation: GenerationConfig = {
    batchWindowMs: positiveInt(env, 'GENERATION_BATCH_WINDOW_MS', DEFAULT_GENERATION_CONFIG.batchWindowMs, problems, 0, 10_000),
    batchMaxImages: positiveInt(env, 'GENERATION_BATCH_MAX_IMAGES', DEFAULT_GENERATION_CONFIG.batchMaxImages, problems, 1, 256),
    adapterCacheSize: positiveInt(env, 'ADAPTER_CACHE_SIZE', DEFAULT_GENERATION_CONFIG.adapterCacheSize, problems, 1, 10_000),
    threads: positiveInt(env, 'INFERENCE_THREADS', DEFAULT_GENERATION_CONFIG.threads, problems, 1, 1024),
    memoryBudgetBytes: positiveInt(env, 'GENERATION_MEMORY_BUDGET_MB', DEFAULT_GENERATION_CONFIG.memoryBudgetBytes / MB, problems, 1, 1024 * 1024) * MB,
  };
  const redisUrl = parseRedisUrl(env.REDIS_URL, problems);
  const metricsToken = env.METRICS_TOKEN?.trim() || undefined;
  const tenantLimits: LimitsConfig = {
    ratePerMinute: positiveInt(env, 'RATE_LIMIT_PER_MINUTE', DEFAULT_TENANT_LIMITS.ratePerMinute, problems, 0, 1_000_000),
    generationsPerMinute: positiveInt(env, 'GENERATION_RATE_LIMIT_PER_MINUTE', DEFAULT_TENANT_LIMITS.generationsPerMinute, problems, 0, 1_000_000),
    concurrentFineTunes: positiveInt(env, 'QUOTA_CONCURRENT_FINE_TUNES', DEFAULT_TENANT_LIMITS.concurrentFineTunes, problems, 0, 10_000),
    imagesPerDataset: positiveInt(env, 'QUOTA_IMAGES_PER_DATASET', DEFAULT_TENANT_LIMITS.imagesPerDataset, problems, 0, 1_000_000),
    storageBytes: positiveInt(env, 'QUOTA_STORAGE_MB', DEFAULT_TENANT_LIMITS.storageBytes / MB, problems, 0, 1024 * 1024 * 1024) * MB,
  };
  const webhooks: WebhookConfig = {
    timeoutMs: positiveInt(env, 'WEBHOOK_TIMEOUT_MS', DEFAULT_WEBHOOK_CONFIG.timeoutMs, problems, 100, 60_000),
    maxAttempts: positiveInt(env, 'WEBHOOK_MAX_ATTEMPTS', DEFAULT_WEBHOOK_CONFIG.maxAttempts, problems, 1, 20),
    backoffMs: positiveInt(env, 'WEBHOOK_BACKOFF_MS', DEFAULT_WEBHOOK_CONFIG.backoffMs, problems, 10, 3_600_000),
    pollMs: DEFAULT_WEBHOOK_CONFIG.pollMs,
  };
  const storage = parseStorageConfig(env, problems);
  const logLevels = parseLogLevel(env.LOG_LEVEL, problems);
  const logFormat = parseLogFormat(env.LOG_FORMAT, problems);
  const shutdownTimeoutMs = positiveInt(env, 'SHUTDOWN_TIMEOUT_MS', DEFAULT_SHUTDOWN_TIMEOUT_MS, problems, 100, 3_600_000);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port,
    host,
    dataDir,
    modelsDir,
    adminToken,
    database,
    redisUrl,
    metricsToken,
    limits,
    tenantLimits,
    webhooks,
    worker,
    generation,
    storage,
    logLevels,
    logFormat,
    shutdownTimeoutMs,
  };
}

/** For the entry points: the configuration, or every problem on stderr and exit code 2. */
export function loadConfigOrExit(env: Env = process.env): AppConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}
