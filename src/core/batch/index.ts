/** Batch input and output: streaming readers for .txt, .jsonl and .csv, and the results writer. */
export { countRows, inputFormat, readBatch, type InputFormat, type ReaderOptions } from './readers';
export { INVALID_INPUT } from './common';
export { CsvParser, csvRecords, type CsvParserOptions, type CsvRecord } from './csv';
export { readLines, type LineReaderOptions, type TextLine } from './lines';
export {
  defaultResultsPath,
  partialResultsPath,
  readResults,
  ResultsWriter,
  type ReadResultsOptions,
  type ResultsWriterOptions,
} from './writer';
