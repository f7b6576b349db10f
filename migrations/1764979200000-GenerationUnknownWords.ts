import type { MigrationInterface, QueryRunner } from 'typeorm';
import { runDialectQueries } from '../src/database/dialect-queries';

/*
 * A generation records the prompt words its base model did not know (a JSON array). Generations made
 * before have none on record (NULL) and report an empty list.
 */
const SQLITE_UP = [`ALTER TABLE "generations" ADD COLUMN "unknown_words" text`];
const SQLITE_DOWN = [`ALTER TABLE "generations" DROP COLUMN "unknown_words"`];
const POSTGRES_UP = [`ALTER TABLE "generations" ADD "unknown_words" text`];
const POSTGRES_DOWN = [`ALTER TABLE "generations" DROP COLUMN "unknown_words"`];

export class GenerationUnknownWords1764979200000 implements MigrationInterface {
  name = 'GenerationUnknownWords1764979200000';

  up(queryRunner: QueryRunner): Promise<void> {
    return runDialectQueries(queryRunner, { sqlite: SQLITE_UP, postgres: POSTGRES_UP });
  }

  down(queryRunner: QueryRunner): Promise<void> {
    return runDialectQueries(queryRunner, { sqlite: SQLITE_DOWN, postgres: POSTGRES_DOWN });
  }
}
