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
  checkState,
  fetchResults,
  jobIndexPath,
  readJobIndex,
  readState,
  refreshJobs,
  replacedStatePath,
  statePathFor,
  SubmissionExistsError,
  submitBatch,
  unfetchedJobs,
  waitForJobs,
  writeState,
  type BatchState,
} from '../core/batchApi';
import { maskSecrets, type Logger } from '../core/log';
import type { PriceTable } from '../core/pricing';
import { answerLines, formatCost } from '../core/progress';
import { createProvider, DEFAULT_BASE_URL } from '../core/providers';
import { apiKeyFromEnv, cacheLocation, number, openCache, positiveInt, stderrLogger, UsageError } from './args';
import { endpointKindFlag, MODEL_FLAGS, modelDefaults } from './modelFlags';
import { resolveCliProfile } from './profile';

export const BATCH_USAGE = `Usage:
  fastllm batch submit INPUT [options]     send INPUT as OpenAI Batch API jobs (half price, within 24 h)
  fastllm batch status INPUT|JOB_ID        show the jobs' status and counts
  fastllm batch fetch INPUT|JOB_ID [--out FILE] [--wait]
                                           write the results (INPUT.results.jsonl) once the jobs end
  fastllm batch cancel INPUT|JOB_ID        cancel the jobs not finished

Options for submit: --model, --base-url, --embeddings, --api chat|responses|embeddings,
  --reasoning-effort E, --schema FILE, --system, --temperature, --max-tokens,
  --template, --cache FILE, --no-cache (as for run), and --max-requests N / --max-bytes N per job
  (default: OpenAI's limits, 50000 requests and 200 MB). Rows the cache already answers are not sent.
  A submission's state is kept in INPUT.batch.json. Submitting again while it has jobs whose results
  were not fetched is refused; --force submits anyway (the old state is kept as
  INPUT.<time>.batch.json, its jobs still fetchable). A submit that stopped half-way is resumed by
  submitting again: only the rows no job has accepted are sent.
Options for fetch: --out FILE, --wait (poll until the jobs end), --poll-ms N (first poll interval,
  default 5000, doubling up to --max-poll-ms, default 300000), --cache FILE, --no-cache,
  --cache-ttl SECONDS, --prices FILE. Costs are counted at batch prices (half of live). Failed polls
  and downloads are retried with back-off; --wait gives up after an hour of failures. Only answers to
  the request each row has today are used: a row edited since submission gets batch_input_changed.
  The results file is replaced only when the fetch succeeds.
Every command takes --json and --base-url (default: OPENAI_BASE_URL, else https://api.openai.com/v1),
and --profile NAME / --config FILE as for run: the profile's base URL, kind (Azure), headers, model
and key variable (default: $FASTLLM_PROFILE, else the "profile" of fastllm.json); --base-url and
--model win over the profile's. The API key is read from OPENAI_API_KEY (with a profile: from the
variable it names, else FASTLLM_API_KEY, else OPENAI_API_KEY) and only sent to that base URL:
a state file that names another server is refused (pass --base-url, or the --profile, with the
state's URL to use it).`;

/** Every key a command read, masked in its error messages. */
const keysInUse: string[] = [];

/** Where a command's calls go, and with which key: `fastllm run`'s rules (--profile, --base-url, the environment). */
interface Endpoint {
  key: string;
  baseURL: string;
  headers?: Record<string, string>;
  azure?: { apiVersion: string };
  /** The profile's model (Azure: its deployment), for rows that name none. */
  model?: string;
}

function endpointOf(values: { profile?: string; config?: string; 'base-url'?: string; model?: string }): Endpoint {
  const profile = resolveCliProfile({ profile: values.profile, config: values.config, model: values.model });
  const key = profile?.apiKey ?? apiKeyFromEnv();
  keysInUse.push(key);
  const flag = values['base-url'];
  return {
    key,
    baseURL: flag ?? profile?.baseURL ?? configuredBaseURL(undefined),
    ...(profile?.profile.extraHeaders ? { headers: profile.profile.extraHeaders } : {}),
    ...(profile?.azure && flag === undefined ? { azure: profile.azure } : {}),
    ...(profile && (profile.profile.model ?? profile.profile.deployment) ? { model: profile.profile.model ?? profile.profile.deployment } : {}),
  };
}

/** The options every subcommand takes for its endpoint. */
const ENDPOINT_FLAGS = {
  'base-url': { type: 'string' },
  profile: { type: 'string' },
  config: { type: 'string' },
} as const;

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

function clientFor(e: Endpoint): BatchApiClient {
  return new BatchApiClient({ apiKey: e.key === 'none' ? '' : e.key, baseURL: e.baseURL, headers: e.headers, azure: e.azure });
}

/** The base URL the key may go to: `--base-url`, else OPENAI_BASE_URL, else OpenAI's. */
function configuredBaseURL(flag: string | undefined): string {
  return flag ?? process.env.OPENAI_BASE_URL ?? DEFAULT_BASE_URL;
}

/**
 * Refuses a state file that would send the key to a server the user did not name, or write
 * results beside another file than the one the state sits beside (a copied or planted state).
 */
function checkUsable(state: BatchState, statePath: string, baseURL: string): void {
  const [problem] = checkState(state, statePath, { baseURL });
  if (!problem) return;
  if (problem.code === 'base_url') {
    throw new UsageError(`${problem.message}. To use the state's server, pass --base-url ${problem.stateURL} (or the --profile it was submitted with)`);
  }
  throw new UsageError(`${problem.message} (copied or moved?); submit the input again, or set "input" in the state file if it is the same file`);
}

/** Retries of the one-off calls of status and cancel: a minute, then the error is shown. */
const SHORT_RETRY = { giveUpAfterMs: 60_000, baseMs: 1000, maxMs: 10_000 };

async function submit(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      ...ENDPOINT_FLAGS,
      embeddings: { type: 'boolean' },
      ...MODEL_FLAGS,
      system: { type: 'string' },
      temperature: { type: 'string' },
      'max-tokens': { type: 'string' },
      template: { type: 'string' },
      cache: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'max-requests': { type: 'string' },
      'max-bytes': { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('batch submit takes exactly one INPUT file');
  const input = resolve(positionals[0]!);
  if (!existsSync(input) || !statSync(input).isFile()) throw new UsageError(`${positionals[0]}: no such file`);
  // Every flag is checked before anything is opened.
  const maxRequests = positiveInt('max-requests', values['max-requests']);
  const maxBytes = positiveInt('max-bytes', values['max-bytes']);
  const endpoint = endpointOf(values);
  const defaults = {
    model: values.model ?? endpoint.model ?? process.env.FASTLLM_MODEL ?? 'gpt-4o-mini',
    system: values.system,
    temperature: number('temperature', values.temperature),
    max_tokens: positiveInt('max-tokens', values['max-tokens']),
    ...modelDefaults(values),
  };
  const kind = endpointKindFlag(values.api, values.embeddings);
  const key = endpoint.key;
  const log = logger(key);
  const statePath = statePathFor(input);
  const before = existsSync(statePath) ? await readState(statePath).catch(() => undefined) : undefined;
  // The provider a live run would use, only for its scope: the cache keys must be the live ones.
  const provider = createProvider({ apiKey: key, baseURL: endpoint.baseURL, headers: endpoint.headers, azure: endpoint.azure });
  const cache = values['no-cache'] ? undefined : await openCache(cacheLocation(values.cache), log);
  try {
    const state = await submitBatch({
      input,
      client: clientFor({ ...endpoint, baseURL: provider.scope.baseURL }),
      scope: provider.scope,
      cache,
      maxRequests,
      maxBytes,
      force: values.force,
      logger: log,
      reader: { kind, template: values.template, defaults },
    });
    const index = jobIndexPath(resolve('.fastllm'));
    if (values.force && before && unfetchedJobs(before).length > 0) {
      const aside = replacedStatePath(statePath, before);
      await addToJobIndex(index, before.jobs.map((j) => j.id), aside);
    }
    if (state.jobs.length > 0) await addToJobIndex(index, state.jobs.map((j) => j.id), statePath);
    const resumed = before?.complete === false && !values.force ? before.jobs.length : 0;
    if (values.json) process.stdout.write(`${JSON.stringify({ statePath, ...state })}\n`);
    else for (const j of state.jobs.slice(resumed)) process.stdout.write(`${j.id}\n`);
    process.stderr.write(
      (resumed ? `resumed   ${resumed} job(s) already accepted were kept; only the other rows were sent\n` : '') +
        `${state.rows} rows: ${state.rows - state.cachedRows - state.invalidRows - state.repeatRows} sent in ${state.jobs.length} job(s), ` +
        `${state.cachedRows} already cached, ${state.repeatRows} repeats, ${state.invalidRows} invalid\nstate     ${statePath}\n` +
        `next      fastllm batch fetch ${positionals[0]} --wait\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof SubmissionExistsError) {
      throw new UsageError(`${e.message.replace(/; they are paid for.*$/, '')}: fetch them first (fastllm batch fetch ${positionals[0]} --wait), or pass --force to submit again`);
    }
    const submitted = existsSync(statePath) ? await readState(statePath).catch(() => undefined) : undefined;
    const hint = submitted?.complete === false ? `; ${submitted.jobs.length} job(s) were accepted before that: submit again to send the rest` : '';
    throw new UsageError(maskSecrets((e as Error).message, [key]) + hint);
  } finally {
    await cache?.close();
    provider.close?.();
  }
}

async function status(argv: string[], cancel: boolean): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...ENDPOINT_FLAGS, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) throw new UsageError(`batch ${cancel ? 'cancel' : 'status'} takes one INPUT file or JOB_ID`);
  const endpoint = endpointOf(values);
  const baseURL = endpoint.baseURL;
  const found = await locate(positionals[0]!);
  const client = clientFor(endpoint);
  if ('jobId' in found) {
    const batch = cancel ? await client.cancelBatch(found.jobId) : await client.retrieveBatch(found.jobId);
    process.stdout.write(values.json ? `${JSON.stringify(batch)}\n` : `${batch.id}  ${batch.status}  ${batch.request_counts?.completed ?? 0}/${batch.request_counts?.total ?? 0} done\n`);
    return 0;
  }
  const { state, statePath } = found;
  checkUsable(state, statePath, baseURL);
  await refreshJobs(state, client, undefined, SHORT_RETRY);
  if (cancel) {
    const asked = await cancelJobs(state, client, undefined, undefined, SHORT_RETRY);
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
      ...ENDPOINT_FLAGS,
      cache: { type: 'string' },
      'no-cache': { type: 'boolean' },
      'cache-ttl': { type: 'string' },
      prices: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('batch fetch takes one INPUT file or JOB_ID');
  const pollMs = positiveInt('poll-ms', values['poll-ms']);
  const maxPollMs = positiveInt('max-poll-ms', values['max-poll-ms']);
  const ttl = positiveInt('cache-ttl', values['cache-ttl']);
  let prices: PriceTable | undefined;
  if (values.prices) {
    try {
      prices = JSON.parse(readFileSync(values.prices, 'utf8')) as PriceTable;
    } catch (e) {
      throw new UsageError(`--prices ${values.prices}: ${(e as Error).message}`);
    }
  }
  const endpoint = endpointOf(values);
  const key = endpoint.key;
  const log = logger(key);
  const baseURL = endpoint.baseURL;
  const found = await locate(positionals[0]!);
  if ('jobId' in found) throw new UsageError(`no local state for ${found.jobId}: pass the INPUT file it was submitted from`);
  const { state, statePath } = found;
  checkUsable(state, statePath, baseURL);
  const client = clientFor(endpoint);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  const onRetry = (e: Error, attempt: number, waitMs: number) =>
    log.warn(`${e.message}; trying again in ${Math.ceil(waitMs / 1000)} s (attempt ${attempt + 1})`);
  try {
    if (values.wait) {
      await waitForJobs(state, client, {
        minIntervalMs: pollMs,
        maxIntervalMs: maxPollMs,
        retry: { onRetry },
        signal: abort.signal,
        onPoll: async (s) => {
          await writeState(statePath, s);
          if (!values.json && !allTerminal(s)) {
            const done = s.jobs.reduce((n, j) => n + j.counts.completed + j.counts.failed, 0);
            const total = s.jobs.reduce((n, j) => n + j.counts.total, 0);
            process.stderr.write(`waiting: ${done}/${total} requests done (${s.jobs.map((j) => j.status).join(', ')})\n`);
          }
        },
      }).catch((e: unknown) => {
        if (!(e instanceof BatchApiError) || e.code === 'aborted') throw e;
        throw new UsageError(`${e.message}. The jobs keep running on the server: run \`fastllm batch fetch ${positionals[0]} --wait\` again later`);
      });
    } else {
      await refreshJobs(state, client, abort.signal, { ...SHORT_RETRY, onRetry });
      await writeState(statePath, state);
    }
    if (!allTerminal(state)) {
      printJobs(state);
      process.stderr.write(`not finished yet: run again later, or with --wait\n`);
      return 1;
    }
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
        retry: { onRetry },
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
          answerLines(s).map((l) => `${l}\n`).join('') +
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
      process.stderr.write(`fastllm batch: ${maskSecrets((e as Error).message, [process.env.OPENAI_API_KEY, process.env.FASTLLM_API_KEY, ...keysInUse])}\n`);
      return 2;
    }
    throw e;
  }
}
