import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface ResolvedAdminToken {
  token: string;
  /** Where the token came from: the environment or the file in DATA_DIR. */
  source: 'env' | 'file' | 'generated';
  path?: string;
}

/**
 * Without ADMIN_TOKEN the embedded default still needs an operator credential: it is generated once,
 * kept in DATA_DIR/admin-token (readable by the owner only) and reused on later starts.
 */
export function resolveAdminToken(dataDir: string, fromEnv: string | undefined): ResolvedAdminToken {
  if (fromEnv) return { token: fromEnv, source: 'env' };
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  try {
    const stored = readFileSync(path, 'utf8').trim();
    if (stored.length >= 16) return { token: stored, source: 'file', path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const token = `adm_${randomBytes(32).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, source: 'generated', path };
}
