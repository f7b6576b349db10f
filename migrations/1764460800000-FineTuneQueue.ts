import type { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * The fine_tunes table doubles as the embedded job queue: a claimed job records the worker holding
 * it and until when (the lease), and how often it was claimed. Online rounds name the adapter they
 * continue from. Adapters get a unique fine_tune_id so a job registers at most one adapter.
 */
const SQLITE_UP = [
  `ALTER TABLE "fine_tunes" ADD COLUMN "init_adapter_id" varchar(36)`,
  `ALTER TABLE "fine_tunes" ADD COLUMN "worker_id" varchar(128)`,
  `ALTER TABLE "fine_tunes" ADD COLUMN "lease_until" datetime`,
  `ALTER TABLE "fine_tunes" ADD COLUMN "attempts" integer NOT NULL DEFAULT (0)`,
  `CREATE UNIQUE INDEX "IDX_4b943501d4a682e6140da4b8de" ON "adapters" ("fine_tune_id")`,
];

const SQLITE_DOWN = [
  `DROP INDEX "IDX_4b943501d4a682e6140da4b8de"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "attempts"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "lease_until"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "worker_id"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "init_adapter_id"`,
];

const POSTGRES_UP = [
  `ALTER TABLE "fine_tunes" ADD "init_adapter_id" character varying(36)`,
  `ALTER TABLE "fine_tunes" ADD "worker_id" character varying(128)`,
  `ALTER TABLE "fine_tunes" ADD "lease_until" TIMESTAMP`,
  `ALTER TABLE "fine_tunes" ADD "attempts" integer NOT NULL DEFAULT '0'`,
  `CREATE UNIQUE INDEX "IDX_4b943501d4a682e6140da4b8de" ON "adapters" ("fine_tune_id")`,
];

const POSTGRES_DOWN = [
  `DROP INDEX "public"."IDX_4b943501d4a682e6140da4b8de"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "attempts"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "lease_until"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "worker_id"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "init_adapter_id"`,
];

export class FineTuneQueue1764460800000 implements MigrationInterface {
  name = 'FineTuneQueue1764460800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const query of isPostgres(queryRunner) ? POSTGRES_UP : SQLITE_UP) await queryRunner.query(query);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const query of isPostgres(queryRunner) ? POSTGRES_DOWN : SQLITE_DOWN) await queryRunner.query(query);
  }
}

function isPostgres(queryRunner: QueryRunner): boolean {
  return queryRunner.connection.options.type === 'postgres';
}
