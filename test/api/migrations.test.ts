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
import { createTestDatabase, TestDatabase, testDatabaseKind } from '../support/test-database';

const postgres = testDatabaseKind() === 'postgres';

/** Tables of the schema, minus the migrations bookkeeping. */
async function tableNames(dataSource: DataSource): Promise<string[]> {
  const rows = postgres
    ? await dataSource.query(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`)
    : await dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table'`);
  return rows.map((r: { name: string }) => r.name).filter((t: string) => t !== 'migrations' && t !== 'sqlite_sequence');
}

describe(`database migrations (${testDatabaseKind()})`, () => {
  let dir: string;
  let database: TestDatabase;
  let dataSource: DataSource;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'saas-migrations-'));
    database = await createTestDatabase(dir);
    dataSource = new DataSource({ ...buildDataSourceOptions(database.config), logging: false });
    await dataSource.initialize();
  });

  after(async () => {
    await dataSource?.destroy();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs at start and leaves nothing for a generated migration to do', async () => {
    const applied = await dataSource.query('SELECT name FROM migrations');
    assert.ok(applied.length >= 1);
    const pending = await dataSource.driver.createSchemaBuilder().log();
    assert.deepEqual(pending.upQueries.map((q) => q.query), []);
  });

  it('creates a table for every entity', async () => {
    const tables = await tableNames(dataSource);
    for (const entity of ENTITIES) {
      assert.ok(tables.includes(dataSource.getMetadata(entity).tableName), `missing table for ${entity.name}`);
    }
  });

  it('uses WAL journaling (SQLite) and enforces foreign keys', async () => {
    if (!postgres) assert.deepEqual(await dataSource.query('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
    await assert.rejects(
      dataSource.query(`INSERT INTO datasets (id, tenant_id, name) VALUES ('d1', 'no-such-tenant', 'x')`),
      postgres ? /violates foreign key constraint/ : /FOREIGN KEY constraint failed/,
    );
  });

  it('reverts cleanly', async () => {
    for (let i = 0; i < MIGRATIONS.length; i++) await dataSource.undoLastMigration();
    assert.deepEqual(await tableNames(dataSource), []);
    await dataSource.runMigrations();
    assert.deepEqual((await dataSource.driver.createSchemaBuilder().log()).upQueries, []);
  });
});
