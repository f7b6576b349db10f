import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '../../src/database/data-source-options';
import { ENTITIES } from '../../src/database/entities';
import { MIGRATIONS } from '../../src/database/migrations';

describe('database migrations', () => {
  let dir: string;
  let dataSource: DataSource;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'saas-migrations-'));
    dataSource = new DataSource({ ...buildDataSourceOptions({ type: 'sqlite', path: join(dir, 'saas.sqlite') }), logging: false });
    await dataSource.initialize();
  });

  after(async () => {
    await dataSource?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs at start and leaves nothing for a generated migration to do', async () => {
    const applied = await dataSource.query('SELECT name FROM migrations');
    assert.ok(applied.length >= 1);
    const pending = await dataSource.driver.createSchemaBuilder().log();
    assert.deepEqual(pending.upQueries.map((q) => q.query), []);
  });

  it('creates a table for every entity', async () => {
    const tables = (await dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table'`)).map((r: { name: string }) => r.name);
    for (const entity of ENTITIES) {
      assert.ok(tables.includes(dataSource.getMetadata(entity).tableName), `missing table for ${entity.name}`);
    }
  });

  it('uses WAL journaling and enforces foreign keys', async () => {
    assert.deepEqual(await dataSource.query('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
    await assert.rejects(
      dataSource.query(`INSERT INTO datasets (id, tenant_id, name) VALUES ('d1', 'no-such-tenant', 'x')`),
      /FOREIGN KEY constraint failed/,
    );
  });

  it('reverts cleanly', async () => {
    for (let i = 0; i < MIGRATIONS.length; i++) await dataSource.undoLastMigration();
    const tables = (await dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table'`)).map((r: { name: string }) => r.name);
    assert.deepEqual(tables.filter((t: string) => t !== 'migrations' && t !== 'sqlite_sequence'), []);
    await dataSource.runMigrations();
    assert.deepEqual((await dataSource.driver.createSchemaBuilder().log()).upQueries, []);
  });
});
