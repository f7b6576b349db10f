import type { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * The whole v1 schema: tenants and API keys, datasets and their images, adapters, fine-tunes,
 * generations with their images, and feedback signals. SQLite (embedded default) and PostgreSQL
 * (scale-out) get the same tables, indexes and foreign keys in each one's own dialect.
 */
const SQLITE_UP = [
  `CREATE TABLE "tenants" ("id" varchar(36) PRIMARY KEY NOT NULL, "name" varchar(200) NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')))`,
  `CREATE TABLE "api_keys" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "prefix" varchar(32) NOT NULL, "hash" varchar(64) NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "revoked_at" datetime, CONSTRAINT "FK_3ac18429c8d27858d79432e0dda" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_3ac18429c8d27858d79432e0dd" ON "api_keys" ("tenant_id")`,
  `CREATE UNIQUE INDEX "IDX_6f6105c8efe05b310d046cbdb3" ON "api_keys" ("prefix")`,
  `CREATE TABLE "datasets" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "name" varchar(200) NOT NULL, "rejected_count" integer NOT NULL DEFAULT (0), "created_at" datetime NOT NULL DEFAULT (datetime('now')), "updated_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_70bcf947f8c4f19149e6ba8a527" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_70bcf947f8c4f19149e6ba8a52" ON "datasets" ("tenant_id")`,
  `CREATE TABLE "dataset_images" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "dataset_id" varchar(36) NOT NULL, "position" integer NOT NULL, "filename" varchar(255) NOT NULL, "caption" text NOT NULL DEFAULT (''), "content_hash" varchar(64) NOT NULL, "mime_type" varchar(32) NOT NULL, "bytes" integer NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "original_key" varchar(512) NOT NULL, "training_key" varchar(512) NOT NULL, "source" varchar(16) NOT NULL DEFAULT ('upload'), "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_bd9d402b3ddd20af7c6b240d962" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_770e41b7eee0a626a20d082c10" ON "dataset_images" ("tenant_id")`,
  `CREATE INDEX "IDX_a2d1ec88c30af277d7891044b6" ON "dataset_images" ("dataset_id", "position")`,
  `CREATE UNIQUE INDEX "IDX_5a7464431fbff08af5aef300ec" ON "dataset_images" ("dataset_id", "content_hash")`,
  `CREATE TABLE "adapters" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "name" varchar(200) NOT NULL, "source" varchar(16) NOT NULL, "fine_tune_id" varchar(36), "base_model" varchar(200), "format" varchar(16) NOT NULL, "rank" integer, "alpha" real, "tensor_count" integer NOT NULL, "bytes" bigint NOT NULL, "sha256" varchar(64) NOT NULL, "storage_key" varchar(512) NOT NULL, "metadata" text, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_bd5babf2b88064a63cea770fc8f" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_bd5babf2b88064a63cea770fc8" ON "adapters" ("tenant_id")`,
  `CREATE TABLE "fine_tunes" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "dataset_id" varchar(36), "base_model" varchar(200) NOT NULL, "method" varchar(8) NOT NULL, "status" varchar(16) NOT NULL DEFAULT ('queued'), "step" integer NOT NULL DEFAULT (0), "total_steps" integer NOT NULL DEFAULT (0), "hyperparameters" text NOT NULL, "metrics" text, "error" text, "webhook_url" varchar(2048), "cancel_requested" boolean NOT NULL DEFAULT (0), "adapter_id" varchar(36), "created_at" datetime NOT NULL DEFAULT (datetime('now')), "updated_at" datetime NOT NULL DEFAULT (datetime('now')), "started_at" datetime, "finished_at" datetime, CONSTRAINT "FK_af03038edf5edea7475a57ac719" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_cdb1003d7f95c3c2713b94bd528" FOREIGN KEY ("dataset_id") REFERENCES "datasets" ("id") ON DELETE SET NULL ON UPDATE NO ACTION, CONSTRAINT "FK_43a6773735c7fd6513de870d2f4" FOREIGN KEY ("adapter_id") REFERENCES "adapters" ("id") ON DELETE SET NULL ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_af03038edf5edea7475a57ac71" ON "fine_tunes" ("tenant_id")`,
  `CREATE INDEX "IDX_23504d6094883b9cfdcbbab14d" ON "fine_tunes" ("status", "created_at")`,
  `CREATE TABLE "generations" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "prompt" text NOT NULL, "negative_prompt" text, "base_model" varchar(200) NOT NULL, "adapters" text NOT NULL, "seed" bigint NOT NULL, "steps" integer NOT NULL, "guidance_scale" real NOT NULL, "num_images" integer NOT NULL, "scheduler" varchar(32) NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "duration_ms" integer, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_41d82b89831f90276eb1127cbd3" FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_41d82b89831f90276eb1127cbd" ON "generations" ("tenant_id")`,
  `CREATE TABLE "generation_images" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "generation_id" varchar(36) NOT NULL, "image_index" integer NOT NULL, "storage_key" varchar(512) NOT NULL, "mime_type" varchar(32) NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "bytes" integer NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), CONSTRAINT "FK_913fc645a1688d6452044872615" FOREIGN KEY ("generation_id") REFERENCES "generations" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_320a942a897e12556d2b7fab19" ON "generation_images" ("tenant_id")`,
  `CREATE UNIQUE INDEX "IDX_67b1bbc2d2123ebd05262f25e0" ON "generation_images" ("generation_id", "image_index")`,
  `CREATE TABLE "feedback_signals" ("id" varchar(36) PRIMARY KEY NOT NULL, "tenant_id" varchar(36) NOT NULL, "generation_id" varchar(36) NOT NULL, "image_index" integer NOT NULL, "signal" varchar(16) NOT NULL, "created_at" datetime NOT NULL DEFAULT (datetime('now')), "consumed_at" datetime, CONSTRAINT "FK_fc5923831544bd11de83557a6a6" FOREIGN KEY ("generation_id") REFERENCES "generations" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
  `CREATE INDEX "IDX_fc5923831544bd11de83557a6a" ON "feedback_signals" ("generation_id")`,
  `CREATE INDEX "IDX_a8c0d01c3b718024218b843510" ON "feedback_signals" ("tenant_id", "consumed_at")`,
];

const SQLITE_DOWN = [
  `DROP INDEX "IDX_fc5923831544bd11de83557a6a"`,
  `DROP INDEX "IDX_a8c0d01c3b718024218b843510"`,
  `DROP TABLE "feedback_signals"`,
  `DROP INDEX "IDX_320a942a897e12556d2b7fab19"`,
  `DROP INDEX "IDX_67b1bbc2d2123ebd05262f25e0"`,
  `DROP TABLE "generation_images"`,
  `DROP INDEX "IDX_41d82b89831f90276eb1127cbd"`,
  `DROP TABLE "generations"`,
  `DROP INDEX "IDX_af03038edf5edea7475a57ac71"`,
  `DROP INDEX "IDX_23504d6094883b9cfdcbbab14d"`,
  `DROP TABLE "fine_tunes"`,
  `DROP INDEX "IDX_bd5babf2b88064a63cea770fc8"`,
  `DROP TABLE "adapters"`,
  `DROP INDEX "IDX_770e41b7eee0a626a20d082c10"`,
  `DROP INDEX "IDX_a2d1ec88c30af277d7891044b6"`,
  `DROP INDEX "IDX_5a7464431fbff08af5aef300ec"`,
  `DROP TABLE "dataset_images"`,
  `DROP INDEX "IDX_70bcf947f8c4f19149e6ba8a52"`,
  `DROP TABLE "datasets"`,
  `DROP INDEX "IDX_3ac18429c8d27858d79432e0dd"`,
  `DROP INDEX "IDX_6f6105c8efe05b310d046cbdb3"`,
  `DROP TABLE "api_keys"`,
  `DROP TABLE "tenants"`,
];

const POSTGRES_UP = [
  `CREATE TABLE "tenants" ("id" character varying(36) NOT NULL, "name" character varying(200) NOT NULL, "created_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_53be67a04681c66b87ee27c9321" PRIMARY KEY ("id"))`,
  `CREATE TABLE "adapters" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "name" character varying(200) NOT NULL, "source" character varying(16) NOT NULL, "fine_tune_id" character varying(36), "base_model" character varying(200), "format" character varying(16) NOT NULL, "rank" integer, "alpha" real, "tensor_count" integer NOT NULL, "bytes" bigint NOT NULL, "sha256" character varying(64) NOT NULL, "storage_key" character varying(512) NOT NULL, "metadata" text, "created_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_560844f91887cdeda3945b3f364" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_bd5babf2b88064a63cea770fc8" ON "adapters" ("tenant_id")`,
  `CREATE TABLE "datasets" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "name" character varying(200) NOT NULL, "rejected_count" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP NOT NULL DEFAULT now(), "updated_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_1bf831e43c559a240303e23d038" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_70bcf947f8c4f19149e6ba8a52" ON "datasets" ("tenant_id")`,
  `CREATE TABLE "dataset_images" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "dataset_id" character varying(36) NOT NULL, "position" integer NOT NULL, "filename" character varying(255) NOT NULL, "caption" text NOT NULL DEFAULT '', "content_hash" character varying(64) NOT NULL, "mime_type" character varying(32) NOT NULL, "bytes" integer NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "original_key" character varying(512) NOT NULL, "training_key" character varying(512) NOT NULL, "source" character varying(16) NOT NULL DEFAULT 'upload', "created_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_7c6795936ef7db3c63e0763c5fc" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_770e41b7eee0a626a20d082c10" ON "dataset_images" ("tenant_id")`,
  `CREATE INDEX "IDX_a2d1ec88c30af277d7891044b6" ON "dataset_images" ("dataset_id", "position")`,
  `CREATE UNIQUE INDEX "IDX_5a7464431fbff08af5aef300ec" ON "dataset_images" ("dataset_id", "content_hash")`,
  `CREATE TABLE "generations" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "prompt" text NOT NULL, "negative_prompt" text, "base_model" character varying(200) NOT NULL, "adapters" text NOT NULL, "seed" bigint NOT NULL, "steps" integer NOT NULL, "guidance_scale" real NOT NULL, "num_images" integer NOT NULL, "scheduler" character varying(32) NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "duration_ms" integer, "created_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_9d2a52fbde1fba42c24ec42ddd2" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_41d82b89831f90276eb1127cbd" ON "generations" ("tenant_id")`,
  `CREATE TABLE "feedback_signals" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "generation_id" character varying(36) NOT NULL, "image_index" integer NOT NULL, "signal" character varying(16) NOT NULL, "created_at" TIMESTAMP NOT NULL DEFAULT now(), "consumed_at" TIMESTAMP, CONSTRAINT "PK_5db8b669b7ef6c51100bbc20b2d" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_fc5923831544bd11de83557a6a" ON "feedback_signals" ("generation_id")`,
  `CREATE INDEX "IDX_a8c0d01c3b718024218b843510" ON "feedback_signals" ("tenant_id", "consumed_at")`,
  `CREATE TABLE "fine_tunes" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "dataset_id" character varying(36), "base_model" character varying(200) NOT NULL, "method" character varying(8) NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'queued', "step" integer NOT NULL DEFAULT '0', "total_steps" integer NOT NULL DEFAULT '0', "hyperparameters" text NOT NULL, "metrics" text, "error" text, "webhook_url" character varying(2048), "cancel_requested" boolean NOT NULL DEFAULT false, "adapter_id" character varying(36), "created_at" TIMESTAMP NOT NULL DEFAULT now(), "updated_at" TIMESTAMP NOT NULL DEFAULT now(), "started_at" TIMESTAMP, "finished_at" TIMESTAMP, CONSTRAINT "PK_a048f37bff686f00e0360fa8a0e" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_af03038edf5edea7475a57ac71" ON "fine_tunes" ("tenant_id")`,
  `CREATE INDEX "IDX_23504d6094883b9cfdcbbab14d" ON "fine_tunes" ("status", "created_at")`,
  `CREATE TABLE "generation_images" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "generation_id" character varying(36) NOT NULL, "image_index" integer NOT NULL, "storage_key" character varying(512) NOT NULL, "mime_type" character varying(32) NOT NULL, "width" integer NOT NULL, "height" integer NOT NULL, "bytes" integer NOT NULL, "created_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "PK_a56353237c14e1dab795f15114e" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_320a942a897e12556d2b7fab19" ON "generation_images" ("tenant_id")`,
  `CREATE UNIQUE INDEX "IDX_67b1bbc2d2123ebd05262f25e0" ON "generation_images" ("generation_id", "image_index")`,
  `CREATE TABLE "api_keys" ("id" character varying(36) NOT NULL, "tenant_id" character varying(36) NOT NULL, "prefix" character varying(32) NOT NULL, "hash" character varying(64) NOT NULL, "created_at" TIMESTAMP NOT NULL DEFAULT now(), "revoked_at" TIMESTAMP, CONSTRAINT "PK_5c8a79801b44bd27b79228e1dad" PRIMARY KEY ("id"))`,
  `CREATE INDEX "IDX_3ac18429c8d27858d79432e0dd" ON "api_keys" ("tenant_id")`,
  `CREATE UNIQUE INDEX "IDX_6f6105c8efe05b310d046cbdb3" ON "api_keys" ("prefix")`,
  `ALTER TABLE "adapters" ADD CONSTRAINT "FK_bd5babf2b88064a63cea770fc8f" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "datasets" ADD CONSTRAINT "FK_70bcf947f8c4f19149e6ba8a527" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "dataset_images" ADD CONSTRAINT "FK_bd9d402b3ddd20af7c6b240d962" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "generations" ADD CONSTRAINT "FK_41d82b89831f90276eb1127cbd3" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "feedback_signals" ADD CONSTRAINT "FK_fc5923831544bd11de83557a6a6" FOREIGN KEY ("generation_id") REFERENCES "generations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "fine_tunes" ADD CONSTRAINT "FK_af03038edf5edea7475a57ac719" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "fine_tunes" ADD CONSTRAINT "FK_cdb1003d7f95c3c2713b94bd528" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
  `ALTER TABLE "fine_tunes" ADD CONSTRAINT "FK_43a6773735c7fd6513de870d2f4" FOREIGN KEY ("adapter_id") REFERENCES "adapters"("id") ON DELETE SET NULL ON UPDATE NO ACTION`,
  `ALTER TABLE "generation_images" ADD CONSTRAINT "FK_913fc645a1688d6452044872615" FOREIGN KEY ("generation_id") REFERENCES "generations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
  `ALTER TABLE "api_keys" ADD CONSTRAINT "FK_3ac18429c8d27858d79432e0dda" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
];

const POSTGRES_DOWN = [
  `ALTER TABLE "api_keys" DROP CONSTRAINT "FK_3ac18429c8d27858d79432e0dda"`,
  `ALTER TABLE "generation_images" DROP CONSTRAINT "FK_913fc645a1688d6452044872615"`,
  `ALTER TABLE "fine_tunes" DROP CONSTRAINT "FK_43a6773735c7fd6513de870d2f4"`,
  `ALTER TABLE "fine_tunes" DROP CONSTRAINT "FK_cdb1003d7f95c3c2713b94bd528"`,
  `ALTER TABLE "fine_tunes" DROP CONSTRAINT "FK_af03038edf5edea7475a57ac719"`,
  `ALTER TABLE "feedback_signals" DROP CONSTRAINT "FK_fc5923831544bd11de83557a6a6"`,
  `ALTER TABLE "generations" DROP CONSTRAINT "FK_41d82b89831f90276eb1127cbd3"`,
  `ALTER TABLE "dataset_images" DROP CONSTRAINT "FK_bd9d402b3ddd20af7c6b240d962"`,
  `ALTER TABLE "datasets" DROP CONSTRAINT "FK_70bcf947f8c4f19149e6ba8a527"`,
  `ALTER TABLE "adapters" DROP CONSTRAINT "FK_bd5babf2b88064a63cea770fc8f"`,
  `DROP INDEX "public"."IDX_6f6105c8efe05b310d046cbdb3"`,
  `DROP INDEX "public"."IDX_3ac18429c8d27858d79432e0dd"`,
  `DROP TABLE "api_keys"`,
  `DROP INDEX "public"."IDX_67b1bbc2d2123ebd05262f25e0"`,
  `DROP INDEX "public"."IDX_320a942a897e12556d2b7fab19"`,
  `DROP TABLE "generation_images"`,
  `DROP INDEX "public"."IDX_23504d6094883b9cfdcbbab14d"`,
  `DROP INDEX "public"."IDX_af03038edf5edea7475a57ac71"`,
  `DROP TABLE "fine_tunes"`,
  `DROP INDEX "public"."IDX_a8c0d01c3b718024218b843510"`,
  `DROP INDEX "public"."IDX_fc5923831544bd11de83557a6a"`,
  `DROP TABLE "feedback_signals"`,
  `DROP INDEX "public"."IDX_41d82b89831f90276eb1127cbd"`,
  `DROP TABLE "generations"`,
  `DROP INDEX "public"."IDX_5a7464431fbff08af5aef300ec"`,
  `DROP INDEX "public"."IDX_a2d1ec88c30af277d7891044b6"`,
  `DROP INDEX "public"."IDX_770e41b7eee0a626a20d082c10"`,
  `DROP TABLE "dataset_images"`,
  `DROP INDEX "public"."IDX_70bcf947f8c4f19149e6ba8a52"`,
  `DROP TABLE "datasets"`,
  `DROP INDEX "public"."IDX_bd5babf2b88064a63cea770fc8"`,
  `DROP TABLE "adapters"`,
  `DROP TABLE "tenants"`,
];

export class InitialSchema1764136800000 implements MigrationInterface {
  name = 'InitialSchema1764136800000';

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
