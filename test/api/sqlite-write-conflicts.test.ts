import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import 'reflect-metadata';
import { DataSource, EntitySubscriberInterface, EventSubscriber, InsertEvent } from 'typeorm';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { GenerationEntity } from '../../src/generations/generation.entity';
import { GenerationImageEntity } from '../../src/generations/generation-image.entity';
import { GenerationsRepository } from '../../src/generations/generations.repository';
import { TenantEntity } from '../../src/tenants/tenant.entity';
import { TenantsRepository } from '../../src/tenants/tenants.repository';

/** The part of better-sqlite3 (shipped without types) that plays the other process. */
interface SqliteConnection {
  prepare(sql: string): { run(...params: unknown[]): unknown };
  close(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openSqlite = require('better-sqlite3') as new (path: string, options: { timeout: number }) => SqliteConnection;

/**
 * Another process (the embedded worker recording training progress) commits a write in the middle of
 * one of the API's multi-row transactions. In WAL mode a transaction that read before writing cannot
 * upgrade past that commit (SQLITE_BUSY_SNAPSHOT, no busy wait), so these transactions must write first.
 */
@EventSubscriber()
class OtherProcessWrite implements EntitySubscriberInterface {
  static other: SqliteConnection | null = null;
  static armed = new Set<string>();

  beforeInsert(event: InsertEvent<unknown>): void {
    const table = event.metadata.tableName;
    if (!OtherProcessWrite.armed.delete(table)) return;
    OtherProcessWrite.other!.prepare('INSERT INTO other_writes (at) VALUES (?)').run(Date.now());
  }
}

describe('SQLite: API transactions survive a concurrent writer', () => {
  let dir: string;
  let dataSource: DataSource;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'saas-write-conflicts-'));
    const path = join(dir, 'saas.sqlite');
    dataSource = new DataSource({ ...buildDataSourceOptions({ type: 'sqlite', path }), subscribers: [OtherProcessWrite], logging: false });
    await dataSource.initialize();
    await dataSource.query('CREATE TABLE other_writes (at INTEGER)');
    OtherProcessWrite.other = new openSqlite(path, { timeout: 5_000 });
  });

  after(async () => {
    OtherProcessWrite.other?.close();
    await dataSource?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a tenant with its key and a generation with its images while another connection commits', async () => {
    const tenants = new TenantsRepository(dataSource.getRepository(TenantEntity));
    OtherProcessWrite.armed.add('tenants');
    const tenant = await tenants.createWithKey({ id: 't1', name: 'acme', webhookSecret: null }, { id: 'k1', prefix: 'sk_t1', hash: 'h'.repeat(64) });
    assert.equal(tenant.id, 't1');
    assert.ok(tenant.createdAt instanceof Date);

    const generations = new GenerationsRepository(dataSource.getRepository(GenerationEntity), dataSource.getRepository(GenerationImageEntity));
    OtherProcessWrite.armed.add('generations');
    const created = await generations.createWithImages(
      { id: 'g1', tenantId: 't1', prompt: 'cat face', negativePrompt: null, baseModel: 'emoji-base', adapters: [], seed: 7, steps: 20, guidanceScale: 4, numImages: 2, scheduler: 'dpmpp-2m', width: 64, height: 64, durationMs: 5, unknownWords: [] },
      [0, 1].map((imageIndex) => ({ id: `g1-${imageIndex}`, imageIndex, storageKey: `generations/t1/g1/${imageIndex}.png`, mimeType: 'image/png', width: 64, height: 64, bytes: 100 })),
    );
    assert.deepEqual(OtherProcessWrite.armed, new Set(), 'the other connection wrote during both transactions');
    assert.equal(created.images.length, 2);
    assert.ok(created.createdAt instanceof Date);

    const stored = await generations.findForTenant('t1', 'g1');
    assert.equal(stored?.prompt, 'cat face');
    assert.deepEqual(stored?.images.map((i) => i.imageIndex), [0, 1]);
    assert.equal((await dataSource.query('SELECT COUNT(*) AS n FROM other_writes'))[0].n, 2);
  });
});
