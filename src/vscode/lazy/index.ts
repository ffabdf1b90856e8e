/**
 * The entry point of `dist/engine.js`: everything heavy that the extension needs (the engine, the
 * openai SDK, sqlite3, the tokenizer), bundled separately and loaded with `require` on first use,
 * so that activating the extension costs only `dist/extension.js`.
 *
 * Rule: host code imports this module with `import type` only (see `../engine.ts`). Nothing here
 * imports `vscode`: these are plain functions over the core.
 */
export { RequestManager, RunStoppedError } from '../../core/manager';
export { TokenStats } from '../../core/stats';
export { runBatch } from '../../core/batch/runBatch';
export { countRows, readBatch } from '../../core/batch/readers';
export { ResultsWriter, defaultResultsPath, readResults } from '../../core/batch/writer';
export { SqliteCache } from '../../core/cache/sqlite';
export { openCache } from '../../core/cache/open';
export { InMemoryCache } from '../../core/cache/memory';
export { createProvider } from '../../core/providers/index';
export { computeRequestHash, describeRequestHash } from '../../core/hash';
export { fromPrompt, promptRequest } from '../../core/request';
export { loadSchemaFile } from '../../core/schema';
export { DEFAULT_PRICES } from '../../core/pricing';
export { estimateBatch, runQuestion, type BatchEstimate, type RunQuestion } from './estimate';
export { rerunFailed } from './rerun';
export { answerText, runSingle, type SingleRunOptions, type SingleResult } from './single';
export { cacheRows, cacheEntryView } from './cacheView';
export { KeyOnDemandProvider, type KeyOnDemandOptions } from '../../core/providers/keyOnDemand';
export { csvColumns, mostTextLike, type CsvColumns } from './csvColumns';
export { LanguageModelProvider } from '../../core/providers/languageModel';
export { listModels, ListModelsError } from '../../core/providers/models';
export { startDemoServer } from '../../core/demo/server';
export { removeCacheFiles } from '../../core/cache/files';
export { findInput } from '../../core/results/naming';
