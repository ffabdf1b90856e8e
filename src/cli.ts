/**
 * `fastllm`: a thin command line over src/core, for scripts, CI and benchmarks.
 *
 *   fastllm run INPUT [options]      run a .txt / .jsonl / .csv batch, write INPUT.results.jsonl
 *   fastllm cache stats|list|show KEY|delete KEY|clear [--cache FILE|redis://…]
 *   fastllm cache reset [--cache FILE]
 *   fastllm batch submit|status|fetch|cancel …  OpenAI Batch API mode (src/cli/batch.ts)
 *   fastllm compare A.results.jsonl B.results.jsonl [--out DIFF.jsonl] [--json]
 *   fastllm demo [--dir DIR]         a sample batch against a local demo server (src/cli/demo.ts)
 *
 * Exit status: 0 every record succeeded; 1 some records failed (all still written); 2 a usage or
 * configuration error, with a one-line message saying what to fix.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cmdCompare } from './cli/compare';
import { cmdBatch } from './cli/batch';
import { cmdDemo } from './cli/demo';
import { modelList, modelOutputs, runSeveralModels } from './cli/models';
import { checkResultsPath } from './core/batch/paths';
import type { ReaderOptions } from './core/batch/readers';
import { runBatch, type BatchSummary } from './core/batch/runBatch';
import { defaultResultsPath } from './core/batch/writer';
import type { CacheProvider } from './core/cache/cacheProvider';
import { describeCacheLocation, isRedisUrl, openCache as openCacheAt } from './core/cache/open';
import { removeCacheFiles } from './core/cache/files';
import { SqliteUnavailableError } from './core/cache/sqliteDriver';
import { maskSecrets } from './core/log';
import { RequestManager } from './core/manager';
import type { PriceTable } from './core/pricing';
import { failureText, ProgressTracker, summaryText } from './core/progress';
import { createProvider, type Provider } from './core/providers';
import type { ResultRecord } from './core/types';
import { resolveCliProfile } from './cli/profile';
import { apiKeyFromEnv, cacheLocation, number, openCache, positiveInt, redisOptions, resetAdvice, secondsAsMs, SQLITE_FIX, stderrLogger, UsageError } from './cli/args';
import { endpointKindFlag, MODEL_FLAGS, modelDefaults } from './cli/modelFlags';

const VERSION = '0.1.0';

const USAGE = `fastllm ${VERSION} — run batches of LLM prompts against any OpenAI-compatible API

Usage:
  fastllm run INPUT [options]
  fastllm cache stats|list|show KEY|delete KEY|clear [--cache FILE|URL] [--filter TEXT]
  fastllm cache reset [--cache FILE]   (deletes a cache file that cannot be opened or read)
  fastllm batch submit|status|fetch|cancel INPUT|JOB_ID   (OpenAI Batch API: see fastllm batch --help)
  fastllm compare A.results.jsonl B.results.jsonl [--out DIFF.jsonl] [--json]   (see fastllm compare --help)
  fastllm demo [--dir DIR]             (a sample batch against a local demo server: no key, no network)

INPUT is a .txt (one prompt per line), .jsonl (prompts, chat bodies or OpenAI Batch API lines)
or .csv file (a "prompt" column, or --template "… {{column}} …").

Options for run:
  --out FILE            results file (default: INPUT.results.jsonl beside the input)
  --model M             model for rows that name none (default: $FASTLLM_MODEL or gpt-4o-mini)
  --model A,B,C         run the input once per model, all at once, each with its own rate limits;
                        results in INPUT.<model>.results.jsonl, one file per model
  --base-url URL        API base URL (default: $OPENAI_BASE_URL or https://api.openai.com/v1)
  --profile NAME        a named endpoint from fastllm.json (base URL, kind, model, limits,
                        headers; default: $FASTLLM_PROFILE, else the file's "profile"); flags
                        given win over the profile's values
  --config FILE         the profiles file (default: fastllm.json in the working folder)
  --embeddings          bare prompts become embeddings requests instead of chat
  --api chat|responses|embeddings
                        what bare prompts become (default chat); responses: OpenAI's Responses
                        API (/v1/responses), and {"input"} JSONL lines are Responses requests
  --reasoning-effort E  reasoning effort for rows that set none (minimal, low, medium, high):
                        reasoning_effort (chat), reasoning.effort (Responses)
  --schema FILE.json    JSON schema every answer must follow (rows without a format of their
                        own); answers that do not match are failures with "schema_valid": false
  --concurrency N|auto  requests in flight at once (default 16); auto: found while the run goes,
                        for servers that publish no limits (vLLM, Ollama, LM Studio)
  --rpm N               requests per minute, paced evenly (default: the server's, from its
                        x-ratelimit-* headers; slowed down on 429s that say nothing)
  --tpm N               tokens per minute, paced evenly (prompt + max_tokens × n per request)
  --max-retries N       retries for 5xx/timeouts/resets (default 5); rate-limit 429s are retried
                        for as long as the run makes progress
  --give-up-after S     stop retrying rate limits after S seconds without a success (default 300)
  --timeout-ms N        per-attempt timeout (default 120000)
  --cache FILE|URL      SQLite cache file (default: .fastllm/cache.sqlite), or a team cache on
                        Redis: redis://[user@]host[:port][/db] (rediss:// for TLS); its password
                        from $FASTLLM_REDIS_PASSWORD, its namespace from --cache-namespace
  --cache-namespace NS  Redis namespace, one per project (default: $FASTLLM_CACHE_NAMESPACE or fastllm)
  --no-cache            neither read nor write the cache
  --refresh             ignore cached answers, call again and update the cache
  --cache-ttl SECONDS   cache entries expire after this long (default: never)
  --temperature T       temperature for rows that set none
  --max-tokens N        token limit for rows that set none: max_tokens, max_completion_tokens for
                        reasoning models (o-series, gpt-5), max_output_tokens for Responses
  --system TEXT         system message for rows that have none
  --template TEXT       CSV prompt template with {{column}} placeholders
  --prices FILE         JSON price table {"model": {"input": $/1M, "output": $/1M, "cachedInput": $/1M}}
  --json                print the summary as JSON on stdout
  --quiet               no progress output
  --help, --version

The API key is read from OPENAI_API_KEY (never from a flag, which would land in shell history);
with a profile, from the variable its "apiKeyEnv" names, else FASTLLM_API_KEY, else OPENAI_API_KEY
(which is only sent to OpenAI, loopback servers and $OPENAI_BASE_URL).
Servers that need no key (Ollama, vLLM, LM Studio) accept any value: OPENAI_API_KEY=none.
Exit status: 0 all rows succeeded, 1 some rows failed, 2 usage or configuration error.`;

/** Row errors that the run's last line explains once (a stop, a cancel), not row by row. */
const SUMMED_UP = new Set(['cancelled', 'run_stopped', 'auth_failed', 'insufficient_quota', 'rate_limited']);

/** Failed rows shown on stderr at the end of a run; the rest are only counted (all are in the results). */
const MAX_ROW_MESSAGES = 20;

/** `<input>:<line>: <what went wrong>` for a failed row (input errors already start with file and line). */
function rowFailure(input: string, r: ResultRecord): string {
  const { code, message } = r.error!;
  return code === 'invalid_input' ? message : `${input}:${r.line}: ${r.custom_id}: ${message} (${code})`;
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      model: { type: 'string' },
      'base-url': { type: 'string' },
      embeddings: { type: 'boolean' },
      ...MODEL_FLAGS,
      concurrency: { type: 'string' },
      'give-up-after': { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'rate-window-ms': { type: 'string' },
      'max-retries': { type: 'string' },
      'timeout-ms': { type: 'string' },
      cache: { type: 'string' },
      'cache-namespace': { type: 'string' },
      'no-cache': { type: 'boolean' },
      refresh: { type: 'boolean' },
      'cache-ttl': { type: 'string' },
      temperature: { type: 'string' },
      'max-tokens': { type: 'string' },
      system: { type: 'string' },
      template: { type: 'string' },
      prices: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      verbose: { type: 'boolean' },
      profile: { type: 'string' },
      config: { type: 'string' },
    },
  });
  // Every flag is read and checked before anything is opened: a usage error must not leave a
  // cache connection (a Redis socket keeps the process alive) or a results file behind.
  if (positionals.length !== 1) throw new UsageError('run takes exactly one INPUT file (see fastllm --help)');
  const input = resolve(positionals[0]!);
  if (!existsSync(input) || !statSync(input).isFile()) throw new UsageError(`${positionals[0]}: no such file`);
  const profile = resolveCliProfile({ profile: values.profile, config: values.config, model: values.model });
  const apiKey = profile?.apiKey ?? apiKeyFromEnv();
  const logger = stderrLogger([apiKey], !!values.verbose);
  const prices = readPrices(values.prices);
  const ttl = positiveInt('cache-ttl', values['cache-ttl']);
  const baseURL =
    values['base-url'] !== undefined ? baseUrl('--base-url', values['base-url']) : (profile?.baseURL ?? baseUrl('OPENAI_BASE_URL', process.env.OPENAI_BASE_URL));
  const limits = {
    concurrency: concurrencyFlag(values.concurrency),
    rateLimitGiveUpMs: secondsAsMs('give-up-after', values['give-up-after']),
    rpm: positiveInt('rpm', values.rpm) ?? profile?.profile.rpm,
    tpm: positiveInt('tpm', values.tpm) ?? profile?.profile.tpm,
    rateWindowMs: positiveInt('rate-window-ms', values['rate-window-ms']),
    maxRetries: positiveInt('max-retries', values['max-retries']),
    timeoutMs: positiveInt('timeout-ms', values['timeout-ms']),
  };
  const reader: ReaderOptions = {
    kind: endpointKindFlag(values.api, values.embeddings),
    template: values.template,
    defaults: {
      model: modelList(values.model)[0] ?? profile?.profile.model ?? profile?.profile.deployment ?? process.env.FASTLLM_MODEL ?? 'gpt-4o-mini',
      system: values.system,
      temperature: number('temperature', values.temperature),
      max_tokens: positiveInt('max-tokens', values['max-tokens']),
      ...modelDefaults(values),
    },
  };
  const out = resolve(values.out ?? defaultResultsPath(input));
  try {
    await checkResultsPath(input, out);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const models = modelList(values.model);
  const several = models.length > 1 ? await modelOutputs(input, out, models) : undefined;

  let progress: ProgressTracker | undefined;
  const abort = new AbortController();
  const onSignal = () => {
    process.stderr.write('\nCancelling: finished results are kept…\n');
    abort.abort();
  };
  let cache: CacheProvider | undefined;
  let provider: Provider | undefined;
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    cache = values['no-cache'] ? undefined : await openCache(cacheLocation(values.cache), logger, values['cache-namespace']);
    provider = createProvider({ apiKey, baseURL, headers: profile?.profile.extraHeaders, azure: profile?.azure });
    const newManager = (p: Provider) =>
      new RequestManager({
        provider: p,
        cache,
        cachePolicy: values.refresh ? 'refresh' : 'use',
        ...limits,
        cacheTtlMs: ttl ? ttl * 1000 : null,
        prices,
        logger,
      });
    if (several) {
      const shared = provider;
      return await runSeveralModels({ input, outs: several, reader, manager: () => newManager(shared), signal: abort.signal, apiKey, json: !!values.json, quiet: !!values.quiet });
    }
    const manager = newManager(provider);
    // Rows that failed for a reason of their own; cancelled and stopped rows are summed up elsewhere.
    const failures: string[] = [];
    let unshownFailures = 0;
    const onRecord = (r: ResultRecord) => {
      if (!r.error || SUMMED_UP.has(r.error.code)) return;
      if (failures.length < MAX_ROW_MESSAGES) failures.push(rowFailure(input, r));
      else unshownFailures++;
    };
    progress = new ProgressTracker(process.stderr, () => manager.stats.snapshot());
    if (!values.quiet) progress.start();
    let summary: BatchSummary;
    try {
      summary = await runBatch({ input, out, manager, signal: abort.signal, onRecord, reader });
    } catch (e) {
      // Input errors that stop the whole file (binary file, unknown type, missing template columns).
      throw new UsageError(maskSecrets((e as Error).message, [apiKey]));
    }
    progress.stop();
    const mask = (text: string) => maskSecrets(text, [apiKey]);
    for (const f of failures) process.stderr.write(`error: ${mask(f)}\n`);
    if (unshownFailures > 0) process.stderr.write(`error: ${unshownFailures} more rows failed; see ${summary.partial ?? out}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (!values.quiet) {
      process.stderr.write(`${summaryText(summary.stats)}\n`);
      if (summary.failed > 0) process.stderr.write(`failures  ${mask(failureText(summary.failures))}\n`);
      if (!summary.partial) process.stderr.write(`results   ${out}\n`);
      if (summary.cancelled) process.stderr.write(`cancelled: ${summary.unfinished} rows not finished are marked "cancelled" in the results\n`);
    }
    // Always shown, --quiet or not: the results are not where the user looks for them.
    if (summary.partial) process.stderr.write(`partial results in ${summary.partial}; ${out} was left as it was\n`);
    if (summary.records === 0) logger.warn(`no requests in ${input}`);
    if (summary.stopped) {
      process.stderr.write(`error: ${mask(summary.stopped.message)}\n`);
      // Giving up on rate limits is not a usage or configuration error: the rows failed, run again later.
      return summary.stopped.code === 'rate_limited' ? 1 : 2;
    }
    return summary.failed > 0 || summary.cancelled ? 1 : 0;
  } finally {
    progress?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cache?.close();
    provider?.close?.();
  }
}

/** `--concurrency N|auto`. */
function concurrencyFlag(v: string | undefined): number | 'auto' | undefined {
  if (v === 'auto') return 'auto';
  if (v !== undefined && !/^\d+$/.test(v)) throw new UsageError(`--concurrency takes a whole number or auto, not "${v}"`);
  return positiveInt('concurrency', v);
}

/** `--prices FILE`, read and parsed (a usage error names the file). */
function readPrices(file: string | undefined): PriceTable | undefined {
  if (!file) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PriceTable;
  } catch (e) {
    throw new UsageError(`--prices ${file}: ${(e as Error).message}`);
  }
}

/** The base URL from `--base-url` or $OPENAI_BASE_URL (`source`), checked to be an http(s) URL. */
function baseUrl(source: string, value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UsageError(`${source} "${value}" is not a URL (e.g. https://api.openai.com/v1)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source} "${value}" must start with http:// or https://`);
  return value;
}

async function cmdCache(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cache: { type: 'string' },
      'cache-namespace': { type: 'string' },
      filter: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [sub, key] = positionals;
  const path = cacheLocation(values.cache);
  const redis = isRedisUrl(path);
  if (!sub || !['stats', 'list', 'show', 'delete', 'clear', 'reset'].includes(sub)) {
    throw new UsageError('cache takes one of: stats, list, show KEY, delete KEY, clear, reset');
  }
  if (sub === 'reset') return await resetCache(path, redis);
  if ((sub === 'show' || sub === 'delete') && !key) throw new UsageError(`cache ${sub} takes a KEY (see fastllm cache list)`);
  // Checked before the cache is opened, like every flag (see cmdRun).
  const limit = positiveInt('limit', values.limit) ?? 50;
  const offset = positiveInt('offset', values.offset) ?? 0;
  if (!redis && !existsSync(path)) throw new UsageError(`no cache at ${path} (use --cache FILE)`);
  let cache: CacheProvider;
  try {
    cache = redis ? await openCacheAt(path, redisOptions(values['cache-namespace'])) : await openCacheAt(path);
  } catch (e) {
    if (redis) throw new UsageError((e as Error).message);
    if (e instanceof SqliteUnavailableError) throw new UsageError(`cannot read the cache ${path}: ${e.message}. ${SQLITE_FIX}`);
    throw new UsageError(`cannot open the cache ${path} (${(e as Error).message}); to reset the cache, ${resetAdvice(path)}`);
  }
  try {
    const filter = values.filter;
    switch (sub) {
      case 'stats': {
        const count = await cache.count(filter);
        if (redis) {
          const { namespace } = redisOptions(values['cache-namespace']);
          const location = describeCacheLocation(path);
          process.stdout.write(values.json ? `${JSON.stringify({ location, namespace, entries: count })}\n` : `${location} (namespace ${namespace})\nentries  ${count}\n`);
          return 0;
        }
        const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
        process.stdout.write(values.json ? `${JSON.stringify({ path, entries: count, bytes })}\n` : `${path}\nentries  ${count}\nsize     ${bytes} bytes\n`);
        return 0;
      }
      case 'list': {
        const page = await cache.list({ filter, limit, offset });
        for (const { key: k, entry } of page.entries) {
          if (values.json) {
            process.stdout.write(`${JSON.stringify({ key: k, model: entry.model, created: entry.created, usage: entry.usage })}\n`);
          } else {
            const created = new Date(entry.created).toISOString().replace('T', ' ').slice(0, 19);
            process.stdout.write(`${k}  ${created}  ${entry.model}  ${entry.usage.total_tokens} tok\n`);
          }
        }
        if (!values.json) process.stderr.write(`${page.entries.length} of ${page.total} entries\n`);
        return 0;
      }
      case 'show': {
        const entry = await cache.get(key!);
        if (!entry) {
          process.stderr.write(`no entry ${key}\n`);
          return 1;
        }
        process.stdout.write(`${JSON.stringify({ key, ...entry }, null, 2)}\n`);
        return 0;
      }
      case 'delete': {
        const deleted = await cache.delete(key!);
        process.stderr.write(deleted ? `deleted ${key}\n` : `no entry ${key}\n`);
        return deleted ? 0 : 1;
      }
      default: {
        const n = await cache.clear(filter);
        process.stderr.write(`deleted ${n} entries\n`);
        return 0;
      }
    }
  } finally {
    await cache.close();
  }
}

/**
 * `fastllm cache reset`: deletes the SQLite file and its journals without opening them, so it works
 * on a file too damaged to open (which `clear` cannot). Never a Redis cache: that is a team's.
 */
async function resetCache(path: string, redis: boolean): Promise<number> {
  if (redis) throw new UsageError('cache reset deletes a local cache file; to empty a Redis cache, use fastllm cache clear --cache URL');
  let removed: string[];
  try {
    removed = await removeCacheFiles(path);
  } catch (e) {
    throw new UsageError(`cannot reset the cache: ${(e as Error).message}`);
  }
  if (removed.length === 0) {
    process.stderr.write(`no cache at ${path}\n`);
    return 1;
  }
  process.stderr.write(`deleted ${removed.join(', ')}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return cmd ? 0 : 2;
    }
    if (cmd === '--version' || cmd === '-v') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (cmd === 'run') return await cmdRun(rest);
    if (cmd === 'cache') return await cmdCache(rest);
    if (cmd === 'batch') return await cmdBatch(rest);
    if (cmd === 'compare') return await cmdCompare(rest);
    if (cmd === 'demo') return await cmdDemo(rest, cmdRun);
    throw new UsageError(`unknown command "${cmd}" (try: fastllm run INPUT, fastllm cache stats)`);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fastllm: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}

// Run when executed (dist/cli.js, or `node --import tsx src/cli.ts`), not when imported by tests.
if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`fastllm: unexpected error: ${maskSecrets(String((e as Error)?.stack ?? e), [process.env.OPENAI_API_KEY])}\n`);
      process.exitCode = 2;
    },
  );
}
