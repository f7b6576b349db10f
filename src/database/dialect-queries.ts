import type { QueryRunner } from 'typeorm';

/** A migration step written out for both supported databases. */
export interface DialectQueries {
  sqlite: readonly string[];
  postgres: readonly string[];
}

/** Runs the queries of the connection's dialect, in order. */
export async function runDialectQueries(queryRunner: QueryRunner, queries: DialectQueries): Promise<void> {
  const list = queryRunner.connection.options.type === 'postgres' ? queries.postgres : queries.sqlite;
  for (const query of list) await queryRunner.query(query);
}
