import type { MigrationInterface, QueryRunner } from 'typeorm';
import { runDialectQueries } from '../src/database/dialect-queries';

/*
 * Style phrases and validation previews: a fine-tune records the trigger phrase appended to its
 * captions and the preview of its result; an adapter carries the phrase and the scale to use it at
 * (1 for every adapter that existed before).
 */
const SQLITE_UP = [
  `ALTER TABLE "fine_tunes" ADD COLUMN "style_phrase" varchar(100)`,
  `ALTER TABLE "fine_tunes" ADD COLUMN "preview" text`,
  `ALTER TABLE "adapters" ADD COLUMN "style_phrase" varchar(100)`,
  `ALTER TABLE "adapters" ADD COLUMN "recommended_scale" real NOT NULL DEFAULT (1)`,
];

const SQLITE_DOWN = [
  `ALTER TABLE "adapters" DROP COLUMN "recommended_scale"`,
  `ALTER TABLE "adapters" DROP COLUMN "style_phrase"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "preview"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "style_phrase"`,
];

const POSTGRES_UP = [
  `ALTER TABLE "fine_tunes" ADD "style_phrase" character varying(100)`,
  `ALTER TABLE "fine_tunes" ADD "preview" text`,
  `ALTER TABLE "adapters" ADD "style_phrase" character varying(100)`,
  `ALTER TABLE "adapters" ADD "recommended_scale" real NOT NULL DEFAULT '1'`,
];

const POSTGRES_DOWN = [
  `ALTER TABLE "adapters" DROP COLUMN "recommended_scale"`,
  `ALTER TABLE "adapters" DROP COLUMN "style_phrase"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "preview"`,
  `ALTER TABLE "fine_tunes" DROP COLUMN "style_phrase"`,
];

export class FineTunePreview1764806400000 implements MigrationInterface {
  name = 'FineTunePreview1764806400000';

  up(queryRunner: QueryRunner): Promise<void> {
    return runDialectQueries(queryRunner, { sqlite: SQLITE_UP, postgres: POSTGRES_UP });
  }

  down(queryRunner: QueryRunner): Promise<void> {
    return runDialectQueries(queryRunner, { sqlite: SQLITE_DOWN, postgres: POSTGRES_DOWN });
  }
}
