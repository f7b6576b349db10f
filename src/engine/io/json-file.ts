import * as fsp from 'fs/promises';

/** A JSON file's contents, or null when it is missing or unreadable (optional metadata files). */
export async function readJsonFileOrNull<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
