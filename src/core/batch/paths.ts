/**
 * Where a run may write its results. Light on purpose (node:fs only): the extension checks a path
 * before it loads the engine.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { partialResultsPath } from './writer';

/** Thrown when a results file would overwrite the run's own input. */
export class ResultsPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultsPathError';
  }
}

/**
 * Throws a {@link ResultsPathError} when writing results to `out` (or to its partial file, see
 * `partialResultsPath`) would overwrite `input`, or when `out` is a folder. The same file is recognised however it is named:
 * another spelling of the path, a symbolic or hard link, another letter case on a case-insensitive
 * file system (all have the same device and inode).
 */
export async function checkResultsPath(input: string, out: string): Promise<void> {
  // Found now, not by the rename at the end of a run that has already been paid for.
  if ((await stat(out).catch(() => undefined))?.isDirectory()) {
    throw new ResultsPathError(`the results file ${out} is a folder; choose a file`);
  }
  for (const target of [out, partialResultsPath(out)]) {
    if (await sameFile(target, input)) {
      const what = target === out ? `the results file ${out}` : `${target} (where the results go until the run ends)`;
      throw new ResultsPathError(`${what} is the input file ${input}: writing it would destroy the input; choose another results file`);
    }
  }
}

/**
 * True when `a` and `b` name one file: the same absolute path, or (both existing) the same device
 * and inode, which a symbolic or hard link, or another letter case on a case-insensitive file
 * system, share.
 */
export async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  const idA = await fileId(a);
  return idA !== undefined && idA === (await fileId(b));
}

/** `device:inode` of an existing file (bigint: Windows file ids do not fit a double), or undefined. */
async function fileId(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}
