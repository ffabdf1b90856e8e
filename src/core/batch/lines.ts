/**
 * A streaming line reader that keeps line numbers.
 *
 * Lines are split on the byte 0x0A before decoding: that byte never occurs inside a multi-byte
 * UTF-8 sequence, so each line can be decoded on its own and a bad byte spoils one line, not the
 * file. Only the current line is held in memory (plus at most one read chunk).
 */
import { createReadStream } from 'node:fs';

/** One line of a file, without its line terminator (`\n` or `\r\n`). */
export interface TextLine {
  /** 1-based line number. */
  line: number;
  /** The decoded text. When `error` is set this is a best-effort decoding (U+FFFD for bad bytes), or ''. */
  text: string;
  /** Why the line could not be read faithfully (invalid UTF-8, too long), if it could not. */
  error?: string;
}

/** Options of {@link readLines}. */
export interface LineReaderOptions {
  /** Stops reading: the generator throws the signal's reason at the next chunk or line. @default undefined */
  signal?: AbortSignal;
  /**
   * Longest line kept, in bytes. A longer line is skipped (its bytes are not kept) and comes back
   * with `error` set, so that a file without newlines cannot exhaust memory.
   * @default 67108864 (64 MiB)
   */
  maxLineBytes?: number;
}

/** How much of the start of a file is checked for NUL bytes, as `git` and `grep` do. */
const SNIFF_BYTES = 8192;
const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Larger reads than the 64 KiB default: fewer chunks and fewer awaits on big files. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Yields the lines of a UTF-8 text file with their numbers. A UTF-8 BOM at the start is dropped,
 * a trailing `\r` is dropped from each line, and a last line without a newline is still yielded
 * (but no empty line after a final newline). Blank lines are yielded too: callers decide.
 *
 * Throws (on the first `next()`) if the file cannot be opened, or looks binary or UTF-16.
 * Breaking out of a `for await` over it closes the file.
 */
export async function* readLines(path: string, options: LineReaderOptions = {}): AsyncGenerator<TextLine> {
  const { signal } = options;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  signal?.throwIfAborted();
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  try {
    let lineNo = 0;
    let parts: Buffer[] = [];
    let pending = 0;
    let tooLong = false;
    let sniffed = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      signal?.throwIfAborted();
      if (sniffed < SNIFF_BYTES) {
        checkText(path, chunk, sniffed);
        sniffed += chunk.length;
      }
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf(10, start)) !== -1) {
        lineNo++;
        if (tooLong || pending + (nl - start) > maxLineBytes) {
          yield { line: lineNo, text: '', error: tooLongMessage(maxLineBytes) };
        } else {
          const piece = chunk.subarray(start, nl);
          yield decodeLine(parts.length ? Buffer.concat([...parts, piece]) : piece, lineNo);
        }
        signal?.throwIfAborted();
        parts = [];
        pending = 0;
        tooLong = false;
        start = nl + 1;
      }
      if (start < chunk.length && !tooLong) {
        pending += chunk.length - start;
        if (pending > maxLineBytes) {
          // Drop what we have and skip to the next newline: the line is reported, not kept.
          tooLong = true;
          parts = [];
        } else {
          parts.push(chunk.subarray(start));
        }
      }
    }
    if (tooLong) yield { line: lineNo + 1, text: '', error: tooLongMessage(maxLineBytes) };
    else if (parts.length) yield decodeLine(Buffer.concat(parts), lineNo + 1);
  } finally {
    // Reached on normal end, on error, and when the consumer stops early (generator return()).
    stream.destroy();
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeLine(bytes: Buffer, line: number): TextLine {
  let start = 0;
  let end = bytes.length;
  if (line === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  if (end > start && bytes[end - 1] === 13) end--;
  const view = bytes.subarray(start, end);
  try {
    return { line, text: decoder.decode(view) };
  } catch {
    return {
      line,
      text: view.toString('utf8'),
      error: 'the line is not valid UTF-8 (was the file saved in another encoding, such as Windows-1252?)',
    };
  }
}

function tooLongMessage(max: number): string {
  return `the line is longer than ${max} bytes and was skipped`;
}

/** Throws if the start of a file shows it is not UTF-8 text. `offset` is the chunk's file offset. */
function checkText(path: string, chunk: Buffer, offset: number): void {
  if (offset === 0 && chunk.length >= 2) {
    const utf16 = (chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff);
    if (utf16) throw new Error(`${path} is UTF-16 encoded; save it as UTF-8 and try again`);
  }
  const nul = chunk.subarray(0, SNIFF_BYTES - offset).indexOf(0);
  if (nul !== -1) {
    throw new Error(`${path} looks like a binary file (it has a NUL byte at offset ${offset + nul}); expected UTF-8 text`);
  }
}
