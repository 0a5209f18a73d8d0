/**
 * The data directory, made and checked before anything is opened in it, so a directory the control
 * plane cannot write is reported as such, naming it, rather than as whichever file fails first.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';

export class DataDirError extends Error {
  readonly code = 'PORTOLAN_DATA_DIR';
}

export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new DataDirError(`cannot write the data directory ${dir}: ${(error as Error).message}: make it writable by the user the control plane runs as, or set PORTOLAN_DATA_DIR to a writable directory`);
  }
}
