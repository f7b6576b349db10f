import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * Tenant API keys look like `sk_<prefix>_<secret>`. The prefix (not secret) finds the row;
 * the SHA-256 of the whole key is compared in constant time. High-entropy keys need no slow hash.
 */
const KEY_PATTERN = /^sk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedApiKey {
  key: string;
  prefix: string;
  hash: string;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function generateApiKey(): GeneratedApiKey {
  const prefix = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  const key = `sk_${prefix}_${secret}`;
  return { key, prefix, hash: sha256Hex(key) };
}

/** The lookup prefix of a well-formed key, or undefined for anything else. */
export function apiKeyPrefix(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

/** Constant-time equality of two secrets of any length (compares their digests). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function hashMatches(key: string, storedHashHex: string): boolean {
  const actual = createHash('sha256').update(key, 'utf8').digest();
  const expected = Buffer.from(storedHashHex, 'hex');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}
