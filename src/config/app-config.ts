import { isAbsolute, resolve } from 'node:path';
import type { LogLevel } from '@nestjs/common';

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

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  modelsDir: string;
  /** Undefined means: use (or create) the token stored in DATA_DIR. */
  adminToken?: string;
  database: DatabaseConfig;
  limits: AppLimits;
  /** Nest log levels to print; empty in tests. */
  logLevels: LogLevel[];
}

export const MB = 1024 * 1024;

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
  const logLevels = parseLogLevel(env.LOG_LEVEL, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { port, host, dataDir, modelsDir, adminToken, database, limits, logLevels };
}
