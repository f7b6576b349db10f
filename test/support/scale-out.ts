import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describeWithEnv } from './required-env';
import IORedis from 'ioredis';

/** What the scale-out tests need; CI must provide both, a developer machine may lack them. */
export const SCALE_OUT_ENV = ['TEST_DATABASE_URL', 'TEST_REDIS_URL'] as const;

/** `describe` for tests against real PostgreSQL and Redis (skipped off CI without them, a failure in CI). */
export function describeScaleOut(name: string, body: () => void): void {
  describeWithEnv(name, SCALE_OUT_ENV, 'PostgreSQL and Redis', body);
}

/** TEST_REDIS_URL with another logical database, emptied, so tests never see each other's jobs. */
export async function freshRedisUrl(db: number): Promise<string> {
  const url = new URL(process.env.TEST_REDIS_URL!);
  url.pathname = `/${db}`;
  const client = new IORedis(url.toString(), { maxRetriesPerRequest: 1 });
  try {
    await client.flushdb();
  } finally {
    client.disconnect();
  }
  return url.toString();
}

export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the compiled worker entry point (`dist/src/worker.js`) with its own WORKER_ID. */
export function startWorkerProcess(id: string, env: Record<string, string>): WorkerProcess {
  const entry = join(__dirname, '..', '..', 'src', 'worker.js');
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', LOG_LEVEL: 'log', WORKER_ID: id, ...env };
  const child = spawn(process.execPath, [entry], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { id, child, output: () => output, exited };
}

/** SIGTERM and wait (a worker hands its job back and exits). */
export async function stopWorkerProcess(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
  await worker.exited;
}
