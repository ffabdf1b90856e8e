/**
 * The results file: one JSON line per {@link ResultRecord}, appended as results come in.
 *
 * Invariant: the file is always a valid JSONL prefix of the run. Each record goes to the stream as
 * one complete string in one `write()` call, so lines never interleave or tear between records; a
 * process killed mid-write can at most leave an unterminated last line, which `open(…, {append})`
 * cuts off before appending and `readResults` skips.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open as openFile, rename } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, dirname, extname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { isPlainObject } from '../request';
import type { ResultRecord } from '../types';
import { readLines } from './lines';

/** Options of {@link ResultsWriter.open}. */
export interface ResultsWriterOptions {
  /** Add to an existing file (to resume a run) instead of replacing it. @default false */
  append?: boolean;
  /**
   * Write to {@link partialResultsPath}(path) instead, and move it over `path` only on
   * {@link ResultsWriter.commit}. Until then the previous file at `path` stays untouched, so a run
   * that stops or crashes never costs the results of the run before it. Not with `append`.
   * @default false
   */
  atomic?: boolean;
}

/**
 * Where an atomic writer ({@link ResultsWriterOptions.atomic}) writes until it commits:
 * `prompts.results.jsonl` → `prompts.results.partial.jsonl`, `out.json` → `out.json.partial.jsonl`.
 * A fixed name (not a random one), so that the user can be told where the partial results of a
 * stopped or killed run are, and the next run of the same file reuses it.
 */
export function partialResultsPath(path: string): string {
  return path.toLowerCase().endsWith('.jsonl') ? `${path.slice(0, -'.jsonl'.length)}.partial.jsonl` : `${path}.partial.jsonl`;
}

/** Writes result records to a JSONL file. Create with {@link ResultsWriter.open}; always `close()`. */
export class ResultsWriter {
  private failure: Error | undefined;
  private draining: Promise<void> | undefined;
  private closed = false;
  private written = 0;

  private constructor(
    /** The file being written (for an atomic writer, the partial file until {@link commit}). */
    readonly path: string,
    private readonly stream: WriteStream,
    /** For an atomic writer: the file that {@link commit} replaces. */
    private readonly target?: string,
  ) {
    // Kept so that the next write() reports it, even when nobody awaits a drain.
    stream.on('error', (err) => {
      this.failure ??= err;
    });
  }

  /**
   * Opens (creating its folder if needed) a results file. With `append`, an unterminated last
   * line left by a killed run is removed first, so that the new records start on a line of their own.
   */
  static async open(path: string, options: ResultsWriterOptions = {}): Promise<ResultsWriter> {
    if (options.atomic && options.append) throw new TypeError('ResultsWriter: atomic and append exclude each other');
    await mkdir(dirname(path), { recursive: true });
    if (options.append) await dropTornTail(path);
    const file = options.atomic ? partialResultsPath(path) : path;
    const stream = createWriteStream(file, { flags: options.append ? 'a' : 'w' });
    await once(stream, 'open'); // rejects with the 'error' (EACCES, EISDIR, …) if it cannot open
    return new ResultsWriter(file, stream, options.atomic ? path : undefined);
  }

  /** The file this writer's records end up in: the target of an atomic writer, else {@link path}. */
  get destination(): string {
    return this.target ?? this.path;
  }

  /** How many records were written by this writer. */
  get count(): number {
    return this.written;
  }

  /**
   * Appends one record. Calls may overlap: records land in call order. The promise resolves once
   * the line is buffered, waiting for the stream to drain when its buffer is full (back-pressure),
   * and rejects if the file cannot be written.
   */
  write(record: ResultRecord): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error(`${this.path}: write after close`));
    const line = JSON.stringify(record) + '\n';
    this.written++;
    if (this.stream.write(line)) return Promise.resolve();
    // One shared wait, rather than one 'drain' listener per blocked caller.
    this.draining ??= once(this.stream, 'drain').then(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  /**
   * Flushes and closes the file. Safe to call more than once. An atomic writer's records stay in
   * its partial file ({@link path}); the file at its target is not touched.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.failure) {
      this.stream.destroy();
      throw this.failure;
    }
    this.stream.end();
    await finished(this.stream);
    if (!this.stream.closed) await once(this.stream, 'close');
  }

  /**
   * Closes the file, flushes it to disk, and, for an atomic writer, renames it over its target in
   * one step: readers see either the old file or the whole new one, never a mix or an empty file.
   * Returns the final path.
   */
  async commit(): Promise<string> {
    await this.close();
    if (this.target === undefined) return this.path;
    const fh = await openFile(this.path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(this.path, this.target);
    return this.target;
  }
}

/** Options of {@link readResults}. */
export interface ReadResultsOptions {
  /**
   * Called with a message (`<file>:<line>: …`) for each line that is not a result record; reading
   * goes on. Without it such a line throws, except an unterminated last line (an interrupted
   * write), which is always skipped. @default undefined
   */
  onInvalid?: (message: string) => void;
  /** Stops reading: iteration throws the signal's reason. @default undefined */
  signal?: AbortSignal;
}

/** Streams the records of a results file, e.g. to find the rows to run again. */
export async function* readResults(path: string, options: ReadResultsOptions = {}): AsyncGenerator<ResultRecord> {
  let pending: string | undefined; // a bad line is judged once we know whether it was the last
  const report = (message: string) => {
    if (!options.onInvalid) throw new Error(message);
    options.onInvalid(message);
  };
  for await (const { line, text, error } of readLines(path, { signal: options.signal })) {
    if (pending) report(pending);
    pending = undefined;
    if (text.trim() === '' && !error) continue;
    const problem = error ?? recordProblem(text);
    if (problem) pending = `${path}:${line}: ${problem}`;
    else yield JSON.parse(text) as ResultRecord;
  }
  if (pending) {
    if (await endsWithNewline(path)) report(pending);
    else options.onInvalid?.(`${pending} (an incomplete last line, from an interrupted run; skipped)`);
  }
}

/** `<dir>/<name-without-ext>.results.jsonl` beside the input file. */
export function defaultResultsPath(input: string): string {
  return join(dirname(input), `${basename(input, extname(input))}.results.jsonl`);
}

function recordProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `invalid JSON: ${(err as Error).message}`;
  }
  if (!isPlainObject(value) || typeof value.custom_id !== 'string') return 'not a result record (no "custom_id")';
  return undefined;
}

async function endsWithNewline(path: string): Promise<boolean> {
  const fh = await openFile(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return true;
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] === 10;
  } finally {
    await fh.close();
  }
}

/** Cuts an unterminated last line off a file, if the file exists and has one. */
async function dropTornTail(path: string): Promise<void> {
  let fh;
  try {
    fh = await openFile(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const block = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - block.length);
      const { bytesRead } = await fh.read(block, 0, end - start, start);
      const nl = block.subarray(0, bytesRead).lastIndexOf(10);
      if (nl !== -1) {
        if (start + nl + 1 < size) await fh.truncate(start + nl + 1);
        return;
      }
      end = start;
    }
    await fh.truncate(0); // no newline at all: the whole file is one torn line
  } finally {
    await fh.close();
  }
}
