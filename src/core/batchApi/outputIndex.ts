/**
 * Where each answer is in the downloaded output and error files: `(job, custom_id)` → file, byte
 * offset and length, so that fetch can join 50,000 answers of 1,536-dimension embeddings (about
 * 1 GB of JSON) to the input in input order while holding one line in memory at a time.
 *
 * OpenAI writes the lines in any order ("the output line order may not match the input line
 * order": https://platform.openai.com/docs/guides/batch), so a row's line is found by seeking.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { silentLogger, type Logger } from '../log';
import type { BatchOutputLine } from './types';

/** One downloaded output or error file of a job. */
export interface OutputFile {
  jobId: string;
  path: string;
}

interface Entry {
  file: number;
  offset: number;
  length: number;
}

/**
 * Matches the start of a line as OpenAI writes it, `{"id": "batch_req_…", "custom_id": "…", …`
 * (or with `custom_id` first), and captures the custom_id's JSON string body. Anchored at the
 * opening brace with only top-level keys before it, it cannot pick up a `custom_id` nested in a
 * response body; any other layout falls back to parsing the whole line.
 */
const HEAD = /^\s*\{\s*(?:"id"\s*:\s*(?:"(?:[^"\\]|\\.)*"|null)\s*,\s*)?"custom_id"\s*:\s*"((?:[^"\\]|\\.)*)"/;
/** Bytes of a line's start given to {@link HEAD}: the id and a custom_id (≤ 64 characters) fit. */
const HEAD_BYTES = 1024;

/**
 * The lines of a job's output and error files by custom_id. A custom_id found in both an error
 * and an output file of the same job is answered by the output file's line, whatever the order
 * of the files given: add error files first, then output files.
 */
export class OutputIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly paths: string[] = [];
  private readonly handles = new Map<number, FileHandle>();

  /** Lines indexed so far. */
  get size(): number {
    return this.entries.size;
  }

  /** Indexes one file: a later line (or file) with the same job and custom_id replaces an earlier one. */
  async add(file: OutputFile, logger: Logger = silentLogger, signal?: AbortSignal): Promise<void> {
    const fileNo = this.paths.push(file.path) - 1;
    let lineNo = 0;
    for await (const { offset, bytes } of scanLines(file.path, signal)) {
      lineNo++;
      const id = customIdOf(bytes);
      if (id === undefined) {
        if (bytes.toString('utf8').trim() !== '') logger.warn(`${file.path}:${lineNo}: not a batch output line (no custom_id); skipped`);
        continue;
      }
      this.entries.set(key(file.jobId, id), { file: fileNo, offset, length: bytes.length });
    }
  }

  has(jobId: string, customId: string): boolean {
    return this.entries.has(key(jobId, customId));
  }

  /** Reads and parses the line of `(jobId, customId)`, if there is one. */
  async get(jobId: string, customId: string): Promise<BatchOutputLine | undefined> {
    const entry = this.entries.get(key(jobId, customId));
    if (!entry) return undefined;
    let fh = this.handles.get(entry.file);
    if (!fh) {
      fh = await open(this.paths[entry.file]!, 'r');
      this.handles.set(entry.file, fh);
    }
    const buffer = Buffer.allocUnsafe(entry.length);
    const { bytesRead } = await fh.read(buffer, 0, entry.length, entry.offset);
    return JSON.parse(buffer.toString('utf8', 0, bytesRead)) as BatchOutputLine;
  }

  async close(): Promise<void> {
    for (const fh of this.handles.values()) await fh.close().catch(() => undefined);
    this.handles.clear();
  }
}

const key = (jobId: string, customId: string) => `${jobId}\n${customId}`;

/** The custom_id of one output line, from its start when it has OpenAI's layout, else by parsing it all. */
function customIdOf(bytes: Buffer): string | undefined {
  const head = HEAD.exec(bytes.toString('utf8', 0, Math.min(bytes.length, HEAD_BYTES)));
  if (head) {
    try {
      return JSON.parse(`"${head[1]}"`) as string;
    } catch {
      // an escape JSON.parse refuses: the whole-line parse below decides
    }
  }
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as Partial<BatchOutputLine> | null;
    return typeof parsed?.custom_id === 'string' ? parsed.custom_id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The lines of a file with their byte offsets (a `\r` before the newline is dropped from the
 * line, not counted in its length). Holds one line and one read chunk at a time.
 */
async function* scanLines(path: string, signal?: AbortSignal): AsyncGenerator<{ offset: number; bytes: Buffer }> {
  let parts: Buffer[] = [];
  let start = 0; // file offset of the current line
  let pos = 0; // file offset of the current chunk
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    signal?.throwIfAborted();
    let from = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      let bytes = parts.length ? Buffer.concat([...parts, piece]) : piece;
      if (bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1);
      yield { offset: start, bytes };
      parts = [];
      from = nl + 1;
      start = pos + from;
    }
    if (from < chunk.length) parts.push(Buffer.from(chunk.subarray(from)));
    pos += chunk.length;
  }
  if (parts.length) yield { offset: start, bytes: Buffer.concat(parts) };
}
