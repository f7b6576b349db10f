import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { DatabaseConfig } from '../../src/config/app-config';

/**
 * Which database the API tiers run on: SQLite in the test's temp folder by default; PostgreSQL when the
 * runner's PostgreSQL tier sets SAAS_TEST_DB=postgres (each app then gets a fresh database created from
 * TEST_DATABASE_URL, dropped afterwards).
 */
export function testDatabaseKind(): 'sqlite' | 'postgres' {
  return process.env.SAAS_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
}

export interface TestDatabase {
  config: DatabaseConfig;
  drop(): Promise<void>;
}

/** The admin URL, with a clear failure when the PostgreSQL tier runs without it. */
export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL?.trim();
  if (!url) throw new Error('TEST_DATABASE_URL is not set (postgres://user:pass@127.0.0.1:5432/db of a role that may CREATE DATABASE)');
  return url;
}

/** A fresh, empty PostgreSQL database next to TEST_DATABASE_URL's. */
export async function createPostgresDatabase(): Promise<TestDatabase> {
  const adminUrl = testDatabaseUrl();
  const name = `saas_t_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    config: { type: 'postgres', url: url.toString() },
    drop: async () => {
      const client = new Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The database for one test app: a SQLite file under `dataDir`, or a fresh PostgreSQL database. */
export async function createTestDatabase(dataDir: string): Promise<TestDatabase> {
  if (testDatabaseKind() === 'postgres') return createPostgresDatabase();
  return { config: { type: 'sqlite', path: join(dataDir, 'saas.sqlite') }, drop: async () => undefined };
}

/** Raw SQL written with `?` placeholders, run on either dialect (PostgreSQL numbers them `$1, $2, …`). */
export function sql(dataSource: DataSource, text: string, params: unknown[] = []): Promise<any> {
  if (dataSource.options.type !== 'postgres') return dataSource.query(text, params);
  let n = 0;
  return dataSource.query(text.replace(/\?/g, () => `$${++n}`), params);
}
