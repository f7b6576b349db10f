import type { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * Fine-tune webhooks: each tenant gets a signing secret, and every event is recorded in
 * webhook_deliveries before it is sent (the outbox delivery loops work through, with retries).
 */
const SQLITE_UP = [
  `ALTER TABLE "tenants" ADD COLUMN "webhook_secret" varchar(64)`,
  `CREATE TABLE "webhook_deliveries" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "fine_tune_id" varchar(36) NOT NULL, "event" varchar(32) NOT NULL, "event_key" varchar(64) NOT NULL, "url" varchar(2048) NOT NULL, "payload" text NOT NULL, "status" varchar(16) NOT NULL DEFAULT ('pending'), "attempts" integer NOT NULL DEFAULT (0), "next_attempt_at" datetime NOT NULL, "locked_until" datetime, "last_status_code" integer, "last_error" text, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "delivered_at" datetime, CONSTRAINT "FK_5b37caba8b61109c304ba8da55d" FOREIGN KEY ("fine_tune_id") REFERENCES "fine_tunes" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_dd2bc3de0e4a0329a4ef30600b" ON "webhook_deliveries" ("tenant_id")`,
  `CREATE INDEX "IDX_284017efc3cbfe592288749a9c" ON "webhook_deliveries" ("status", "next_attempt_at")`,
  `CREATE UNIQUE INDEX "IDX_00db8214170c6e4e4df6202fc8" ON "webhook_deliveries" ("fine_tune_id", "event_key")`,
];

const SQLITE_DOWN = [
  `DROP INDEX "IDX_00db8214170c6e4e4df6202fc8"`,
  `DROP INDEX "IDX_284017efc3cbfe592288749a9c"`,
  `DROP INDEX "IDX_dd2bc3de0e4a0329a4ef30600b"`,
  `DROP TABLE "webhook_deliveries"`,
  `ALTER TABLE "tenants" DROP COLUMN "webhook_secret"`,
];

const POSTGRES_UP = [
  `ALTER TABLE "tenants" ADD "webhook_secret" character varying(64)`,
  `CREATE TABLE "webhook_deliveries" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "fine_tune_id" character varying(36) NOT NULL, "event" character varying(32) NOT NULL, "event_key" character varying(64) NOT NULL, "url" character varying(2048) NOT NULL, "payload" text NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'pending', "attempts" integer NOT NULL DEFAULT '0', "next_attempt_at" TIMESTAMP NOT NULL, "locked_until" TIMESTAMP, "last_status_code" integer, "last_error" text, "created_at" TIMESTAMP NOT NULL DEFAULT now(), "delivered_at" TIMESTAMP, CONSTRAINT "PK_535dd409947fb6d8fc6dfc0112a" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_dd2bc3de0e4a0329a4ef30600b" ON "webhook_deliveries" ("tenant_id")`,
  `CREATE INDEX "IDX_284017efc3cbfe592288749a9c" ON "webhook_deliveries" ("status", "next_attempt_at")`,
  `CREATE UNIQUE INDEX "IDX_00db8214170c6e4e4df6202fc8" ON "webhook_deliveries" ("fine_tune_id", "event_key")`,
  `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_5b37caba8b61109c304ba8da55d" FOREIGN KEY ("fine_tune_id") REFERENCES "fine_tunes"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
];

const POSTGRES_DOWN = [
  `ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "FK_5b37caba8b61109c304ba8da55d"`,
  `DROP INDEX "public"."IDX_00db8214170c6e4e4df6202fc8"`,
  `DROP INDEX "public"."IDX_284017efc3cbfe592288749a9c"`,
  `DROP INDEX "public"."IDX_dd2bc3de0e4a0329a4ef30600b"`,
  `DROP TABLE "webhook_deliveries"`,
  `ALTER TABLE "tenants" DROP COLUMN "webhook_secret"`,
];

export class Webhooks1764633600000 implements MigrationInterface {
  name = 'Webhooks1764633600000';

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
