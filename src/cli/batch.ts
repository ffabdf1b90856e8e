/**
 * `fastllm batch submit|status|fetch|cancel`: OpenAI Batch API mode from the command line.
 *
 * A submission's state is saved beside the input (`INPUT.batch.json`) and its job ids are indexed
 * in `.fastllm/batch-jobs.json` (in the working folder), so that the later commands take either
 * the input file or a job id.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  addToJobIndex,
  allTerminal,
  BatchApiClient,
  BatchApiError,
  cancelJobs,
  fetchResults,
  jobIndexPath,
  readJobIndex,
  readState,
  refreshJobs,
  statePathFor,
  submitBatch,
  waitForJobs,
  writeState,
  type BatchState,
} from '../core/batchApi';
import { maskSecrets, type Logger } from '../core/log';
import type { PriceTable } from '../core/pricing';
import { formatCost } from '../core/progress';
import { createProvider } from '../core/providers';
import { apiKeyFromEnv, cacheLocation, number, openCache, positiveInt, stderrLogger, UsageError } from './args';

export const BATCH_USAGE = `Usage:
  fastllm batch submit INPUT [options]     send INPUT as OpenAI Batch jobs (half price, within 24 h)
  fastllm batch status INPUT|JOB_ID        show the jobs' status and counts
  fastllm batch fetch INPUT|JOB_ID [--out FILE] [--wait]
                                           write the results (INPUT.results.jsonl) once the jobs end
  fastllm batch cancel INPUT|JOB_ID        cancel the jobs not finished

Options for submit: --model, --base-url, --embeddings, --system, --temperature, --max-tokens,
  --template, --cache FILE, --no-cache (as for run), and --max-requests N / --max-bytes N per job
  (default: OpenAI's limits, 50000 requests and 200 MB). Rows the cache already answers are not sent.
Options for fetch: --out FILE, --wait (poll until the jobs end), --poll-ms N (first poll interval,
  default 5000, doubling up to --max-poll-ms, default 300000), --cache FILE, --no-cache,
  --cache-ttl SECONDS, --prices FILE. Costs are counted at batch prices (half of live).
Every command takes --json. The API key is read from OPENAI_API_KEY.`;

function logger(key: string): Logger {
  return stderrLogger([key], false);
}

const when = (secs: number | null) => (secs ? new Date(secs * 1000).toISOString().replace('T', ' ').slice(0, 16) : '-');

function printJobs(state: BatchState): void {
  if (state.jobs.length === 0) process.stdout.write(`no jobs: all ${state.rows} rows were answered by the cache or invalid\n`);
  for (const j of state.jobs) {
    process.stdout.write(
      `${j.id}  ${j.status.padEnd(11)} ${j.counts.completed}/${j.counts.total} done, ${j.counts.failed} failed  ` +
        `created ${when(j.createdAt)}  expires ${when(j.expiresAt)}${j.errors ? `  errors: ${j.errors}` : ''}\n`,
    );
  }
}

/** Finds the state of INPUT (or its .batch.json) or of a job id from the index. */
async function locate(target: string): Promise<{ statePath: string; state: BatchState } | { jobId: string }> {
  const path = resolve(target);
  if (existsSync(path) && statSync(path).isFile()) {
    const statePath = path.endsWith('.batch.json') ? path : statePathFor(path);
    if (!existsSync(statePath)) throw new UsageError(`${target} was not submitted (no ${statePath}); run: fastllm batch submit ${target}`);
    return { statePath, state: await readState(statePath) };
  }
  const index = await readJobIndex(jobIndexPath(resolve('.fastllm')));
  const statePath = index[target];
  if (statePath && existsSync(statePath)) return { statePath, state: await readState(statePath) };
  if (/^batch_[A-Za-z0-9_-]+$/.test(target)) return { jobId: target };
  throw new UsageError(`${target}: no such input file or known job id`);
}

function clientFor(key: string, baseURL: string | undefined): BatchApiClient {
  return new BatchApiClient({ apiKey: key === 'none' ? '' : key, baseURL });
}

async function submit(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      'base-url': { type: 'string' },
      embeddings: { type: 'boolean' },
      system: { type: 'string' },
      temperature: { type: 'string' },
      'max-tokens': { type: 'string' },
      template: { type: 'string' },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'max-requests': { type: 'string' },
      'max-bytes': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('batch submit takes exactly one INPUT file');
  const input = resolve(positionals[0]!);
  if (!existsSync(input) || !statSync(input).isFile()) throw new UsageError(`${positionals[0]}: no such file`);
  const key = apiKeyFromEnv();
  const log = logger(key);
  const baseURL = values['base-url'] ?? process.env.OPENAI_BASE_URL;
  // The provider a live run would use, only for its scope: the cache keys must be the live ones.
  const provider = createProvider({ apiKey: key, baseURL });
  const cache = values['no-cache'] ? undefined : await openCache(cacheLocation(values.cache), log);
  try {
    const state = await submitBatch({
      input,
      client: clientFor(key, provider.scope.baseURL),
      scope: provider.scope,
      cache,
      maxRequests: positiveInt('max-requests', values['max-requests']),
      maxBytes: positiveInt('max-bytes', values['max-bytes']),
      logger: log,
      reader: {
        kind: values.embeddings ? 'embeddings' : 'chat',
        template: values.template,
        defaults: {
          model: values.model ?? process.env.FASTLLM_MODEL ?? 'gpt-4o-mini',
          system: values.system,
          temperature: number('temperature', values.temperature),
          max_tokens: positiveInt('max-tokens', values['max-tokens']),
        },
      },
    });
    const statePath = statePathFor(input);
    if (state.jobs.length > 0) await addToJobIndex(jobIndexPath(resolve('.fastllm')), state.jobs.map((j) => j.id), statePath);
    if (values.json) process.stdout.write(`${JSON.stringify({ statePath, ...state })}\n`);
    else for (const j of state.jobs) process.stdout.write(`${j.id}\n`);
    process.stderr.write(
      `${state.rows} rows: ${state.rows - state.cachedRows - state.invalidRows - state.repeatRows} sent in ${state.jobs.length} job(s), ` +
        `${state.cachedRows} already cached, ${state.repeatRows} repeats, ${state.invalidRows} invalid\nstate     ${statePath}\n` +
        `next      fastllm batch fetch ${positionals[0]} --wait\n`,
    );
    return 0;
  } catch (e) {
    throw new UsageError(maskSecrets((e as Error).message, [key]));
  } finally {
    await cache?.close();
    provider.close?.();
  }
}

async function status(argv: string[], cancel: boolean): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'base-url': { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) throw new UsageError(`batch ${cancel ? 'cancel' : 'status'} takes one INPUT file or JOB_ID`);
  const key = apiKeyFromEnv();
  const found = await locate(positionals[0]!);
  if ('jobId' in found) {
    const client = clientFor(key, values['base-url'] ?? process.env.OPENAI_BASE_URL);
    const batch = cancel ? await client.cancelBatch(found.jobId) : await client.retrieveBatch(found.jobId);
    process.stdout.write(values.json ? `${JSON.stringify(batch)}\n` : `${batch.id}  ${batch.status}  ${batch.request_counts?.completed ?? 0}/${batch.request_counts?.total ?? 0} done\n`);
    return 0;
  }
  const { state, statePath } = found;
  const client = clientFor(key, values['base-url'] ?? state.baseURL);
  await refreshJobs(state, client);
  if (cancel) {
    const asked = await cancelJobs(state, client);
    process.stderr.write(asked.length > 0 ? `cancelling ${asked.join(', ')}\n` : 'nothing to cancel: every job has ended\n');
  }
  await writeState(statePath, state);
  if (values.json) process.stdout.write(`${JSON.stringify(state)}\n`);
  else printJobs(state);
  return 0;
}

async function fetchCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      wait: { type: 'boolean' },
      'poll-ms': { type: 'string' },
      'max-poll-ms': { type: 'string' },
      'base-url': { type: 'string' },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'cache-ttl': { type: 'string' },
      prices: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('batch fetch takes one INPUT file or JOB_ID');
  const key = apiKeyFromEnv();
  const log = logger(key);
  const found = await locate(positionals[0]!);
  if ('jobId' in found) throw new UsageError(`no local state for ${found.jobId}: pass the INPUT file it was submitted from`);
  const { state, statePath } = found;
  let prices: PriceTable | undefined;
  if (values.prices) {
    try {
      prices = JSON.parse(readFileSync(values.prices, 'utf8')) as PriceTable;
    } catch (e) {
      throw new UsageError(`--prices ${values.prices}: ${(e as Error).message}`);
    }
  }
  const client = clientFor(key, values['base-url'] ?? state.baseURL);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    if (values.wait) {
      await waitForJobs(state, client, {
        minIntervalMs: positiveInt('poll-ms', values['poll-ms']),
        maxIntervalMs: positiveInt('max-poll-ms', values['max-poll-ms']),
        signal: abort.signal,
        onPoll: async (s) => {
          await writeState(statePath, s);
          if (!values.json && !allTerminal(s)) {
            const done = s.jobs.reduce((n, j) => n + j.counts.completed + j.counts.failed, 0);
            const total = s.jobs.reduce((n, j) => n + j.counts.total, 0);
            process.stderr.write(`waiting: ${done}/${total} requests done (${s.jobs.map((j) => j.status).join(', ')})\n`);
          }
        },
      });
    } else {
      await refreshJobs(state, client);
      await writeState(statePath, state);
    }
    if (!allTerminal(state)) {
      printJobs(state);
      process.stderr.write(`not finished yet: run again later, or with --wait\n`);
      return 1;
    }
    const ttl = positiveInt('cache-ttl', values['cache-ttl']);
    const cache = values['no-cache'] ? undefined : await openCache(cacheLocation(values.cache), log);
    try {
      const summary = await fetchResults({
        state,
        statePath,
        client,
        cache,
        cacheTtlMs: ttl ? ttl * 1000 : null,
        out: values.out ? resolve(values.out) : undefined,
        prices,
        logger: log,
        signal: abort.signal,
      });
      if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      const s = summary.stats;
      const codes = Object.entries(summary.errors).map(([c, n]) => `${n} ${c}`).join(', ');
      process.stderr.write(
        `requests  ${summary.records} (${summary.succeeded} ok, ${summary.failed} failed${codes ? `: ${codes}` : ''})\n` +
          `from     ${summary.fromBatch} batch answers, ${s.cacheHits} cache hits, ${s.dedupHits} repeats\n` +
          `tokens    ${s.fresh.total} batch (${s.fresh.prompt} prompt + ${s.fresh.completion} completion), ${s.cached.total} from cache\n` +
          `cost      ${formatCost(s.cost.spent)} at batch prices, ${formatCost(s.cost.saved)} saved by the cache (estimated)\n` +
          `results   ${summary.out}\n`,
      );
      return summary.failed > 0 ? 1 : 0;
    } finally {
      await cache?.close();
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(maskSecrets((e as Error).message, [key]));
  } finally {
    process.off('SIGINT', onSignal);
  }
}

/** `fastllm batch …`; returns the exit status (2 for usage and configuration errors, with a message). */
export async function cmdBatch(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'submit':
        return await submit(rest);
      case 'status':
        return await status(rest, false);
      case 'cancel':
        return await status(rest, true);
      case 'fetch':
        return await fetchCmd(rest);
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(`${BATCH_USAGE}\n`);
        return sub ? 0 : 2;
      default:
        throw new UsageError(`batch takes submit, status, fetch or cancel, not "${sub}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof BatchApiError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fastllm batch: ${maskSecrets((e as Error).message, [process.env.OPENAI_API_KEY])}\n`);
      return 2;
    }
    throw e;
  }
}
