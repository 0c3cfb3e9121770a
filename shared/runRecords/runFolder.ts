/**
 * Files in a run's folder (FileRunRecords, FileJournalRows): `<dir>/<runId>/`.
 */
import { mkdir, writeFile } from 'node:fs/promises';

/**
 * Writes a private file in a run's folder, creating the folder only when it is missing: a run's
 * record and journal write a dozen files, and all but the first find the folder there.
 */
export async function writeInRunFolder(folder: string, path: string, text: string): Promise<void> {
  try {
    await writeFile(path, text, { mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await writeFile(path, text, { mode: 0o600 });
  }
}
