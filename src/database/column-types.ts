import type { ValueTransformer } from 'typeorm';

/*
 * Column types that mean the same on SQLite (embedded default) and PostgreSQL (scale-out),
 * so one set of entities serves both drivers.
 */
export const ID_COLUMN = { type: 'varchar', length: 36 } as const;
export const NAME_COLUMN = { type: 'varchar', length: 200 } as const;
export const KEY_COLUMN = { type: 'varchar', length: 512 } as const;
export const HASH_COLUMN = { type: 'varchar', length: 64 } as const;
/** `Date` maps to `datetime` on SQLite and `timestamp` on PostgreSQL. */
export const NULLABLE_TIME_COLUMN = { type: Date, nullable: true } as const;

/** PostgreSQL returns bigint as a string; seeds and sizes stay numbers in the service. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? value : Number(value)),
};
