import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { FineTuneEntity } from '../../src/fine-tunes/fine-tune.entity';
import { DatabaseFineTuneQueue } from '../../src/queue/database-fine-tune-queue.driver';
import { MAX_FINE_TUNE_ATTEMPTS } from '../../src/queue/fine-tune-queue.port';
import { createTestDatabase, sql, TestDatabase } from '../support/test-database';

/** Two connections to one database (SQLite file, or PostgreSQL in its tier) stand for two worker processes. */
describe('embedded fine-tune queue', () => {
  let dir: string;
  let database: TestDatabase;
  let a: DataSource;
  let b: DataSource;
  let queueA: DatabaseFineTuneQueue;
  let queueB: DatabaseFineTuneQueue;
  const tenantId = randomUUID();
  let clock = Date.parse('2025-11-26T10:00:00Z');

  async function enqueue(): Promise<string> {
    const id = randomUUID();
    const at = new Date((clock += 1000));
    await a.getRepository(FineTuneEntity).insert({
      id, tenantId, datasetId: null, baseModel: 'emoji-base', method: 'dro', hyperparameters: { steps: 3 }, totalSteps: 3, createdAt: at, updatedAt: at,
    });
    return id;
  }
  const row = (id: string) => a.getRepository(FineTuneEntity).findOneByOrFail({ id });
  /** Makes a running job's lease look expired. */
  const expire = (id: string) => a.getRepository(FineTuneEntity).update({ id }, { leaseUntil: new Date(Date.now() - 1000) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'saas-queue-'));
    database = await createTestDatabase(dir);
    const options = { ...buildDataSourceOptions(database.config), logging: false as const };
    a = await new DataSource(options).initialize();
    b = await new DataSource({ ...options, migrationsRun: false }).initialize();
    await sql(a, `INSERT INTO tenants (id, name) VALUES (?, 'T')`, [tenantId]);
    queueA = new DatabaseFineTuneQueue(a);
    queueB = new DatabaseFineTuneQueue(b);
  });
  beforeEach(() => a.query(`DELETE FROM fine_tunes`));
  after(async () => {
    await a.destroy();
    await b.destroy();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('claims the oldest queued job and marks it running for that worker', async () => {
    const first = await enqueue();
    const second = await enqueue();
    const claim = await queueB.claim('w1', 60_000);
    assert.deepEqual(claim, { id: first, tenantId, attempt: 1 });
    const claimed = await row(first);
    assert.deepEqual([claimed.status, claimed.workerId, claimed.attempts], ['running', 'w1', 1]);
    assert.ok(claimed.startedAt && claimed.leaseUntil!.getTime() > Date.now() + 50_000);
    assert.equal((await queueA.claim('w2', 60_000))?.id, second);
    assert.equal(await queueA.claim('w3', 60_000), null);
  });

  it('never hands one job to two workers claiming at the same time', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => enqueue()));
    const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? queueA : queueB).claim(`w${i}`, 60_000)));
    const won = claims.filter((c) => c !== null).map((c) => c!.id);
    assert.equal(won.length, 6);
    assert.deepEqual([...won].sort(), [...ids].sort());
  });

  it('renews a lease only for the worker holding the job', async () => {
    const id = await enqueue();
    await queueA.claim('holder', 1_000);
    const before = (await row(id)).leaseUntil!.getTime();
    assert.equal(await queueB.renew(id, 'holder', 60_000), true);
    assert.ok((await row(id)).leaseUntil!.getTime() > before + 30_000);
    assert.equal(await queueB.renew(id, 'intruder', 60_000), false);
  });

  it('returns a job whose lease expired to the queue; the next worker resumes it and the old one is fenced off', async () => {
    const id = await enqueue();
    await queueA.claim('crashed', 60_000);
    assert.deepEqual(await queueB.recoverExpired(MAX_FINE_TUNE_ATTEMPTS), { requeued: [], canceled: [], failed: [] }, 'a live lease is left alone');
    await expire(id);
    assert.deepEqual(await queueB.recoverExpired(MAX_FINE_TUNE_ATTEMPTS), { requeued: [id], canceled: [], failed: [] });
    assert.deepEqual([(await row(id)).status, (await row(id)).workerId], ['queued', null]);
    assert.deepEqual(await queueB.claim('rescuer', 60_000), { id, tenantId, attempt: 2 });
    assert.equal(await queueA.renew(id, 'crashed', 60_000), false, 'the crashed worker lost the job');
    assert.equal(await queueA.requeue(id, 'crashed'), false);
  });

  it('cancels an orphaned job that was asked to stop, and fails one that keeps losing its worker', async () => {
    const canceled = await enqueue();
    await queueA.claim('w', 60_000);
    await a.getRepository(FineTuneEntity).update({ id: canceled }, { cancelRequested: true });
    await expire(canceled);
    assert.deepEqual((await queueA.recoverExpired(MAX_FINE_TUNE_ATTEMPTS)).canceled, [canceled]);
    assert.equal((await row(canceled)).status, 'canceled');

    const doomed = await enqueue();
    for (let attempt = 1; attempt <= MAX_FINE_TUNE_ATTEMPTS; attempt++) {
      assert.equal((await queueA.claim(`w${attempt}`, 60_000))?.attempt, attempt);
      await expire(doomed);
      const recovered = await queueA.recoverExpired(MAX_FINE_TUNE_ATTEMPTS);
      assert.deepEqual(recovered[attempt < MAX_FINE_TUNE_ATTEMPTS ? 'requeued' : 'failed'], [doomed]);
    }
    const failed = await row(doomed);
    assert.equal(failed.status, 'failed');
    assert.match(failed.error!, /stopped responding 3 times/);
  });

  it('releases a dead worker’s job at once, and lets a stopping worker hand its job back', async () => {
    const first = await enqueue();
    await queueA.claim('dead', 60_000);
    assert.deepEqual(await queueB.releaseWorker('dead'), [first]);
    assert.equal((await row(first)).status, 'queued');
    await queueB.claim('stopping', 60_000);
    assert.equal(await queueB.requeue(first, 'stopping'), true);
    assert.deepEqual([(await row(first)).status, (await row(first)).leaseUntil], ['queued', null]);
  });

  it('tells listeners about enqueued jobs', async () => {
    const seen: string[] = [];
    const off = queueA.onEnqueued((id) => seen.push(id));
    await queueA.enqueue('job-1');
    off();
    await queueA.enqueue('job-2');
    assert.deepEqual(seen, ['job-1']);
  });
});
