/**
 * The parent's handle on the fake server child ({@link ./serverChild.ts}).
 *
 * @example
 * const server = await BenchServer.start({ latency: 100 });
 * await server.reset();
 * // … run a client against server.url …
 * const { count } = await server.stats();
 * await server.close();
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { FakeRateLimit } from '../../test/support/fakeServer';

/** Fixed latency in ms, or uniform in [min, max) drawn from a seeded generator by request index. */
export type ServerLatency = number | { min: number; max: number; seed: number };

/** How the server limits rates (OpenAI, Azure or silent; see test/support/fakeRateLimits.ts), or `false` for no headers at all. */
export type RateLimitOption = FakeRateLimit | false;

/** What the server does besides answering: limit rates, refuse every request for lack of quota, or load like a GPU. */
export interface ServerBehaviour {
  latency?: ServerLatency;
  rateLimit?: RateLimitOption;
  /** Answer every chat request with OpenAI's 429 `insufficient_quota`. */
  noQuota?: boolean;
  /** Latency `baseMs` up to `capacity` requests in flight, growing in proportion beyond. */
  gpu?: { capacity: number; baseMs: number };
}

export type ServerCommand =
  | ({ op: 'start'; recordBodies?: boolean } & ServerBehaviour)
  | ({ op: 'configure' } & ServerBehaviour)
  | { op: 'reset' }
  | { op: 'stats'; arrivals?: boolean }
  | { op: 'close' };

export interface ServerStats {
  /** Requests received since the last reset (429s included). */
  count: number;
  maxInFlight: number;
  inFlight: number;
  /** Sum of the latencies the server applied since the last reset or configure. */
  latencySum: number;
  /** Arrival time and body of each request (only when recorded and asked for). */
  arrivals?: { at: number; body: string }[];
  /** Requests answered 429 since the last reset. */
  throttled: number;
}

export interface ServerReply {
  id: number;
  error?: string;
  url?: string;
  stats?: ServerStats;
}

export class BenchServer {
  private nextId = 0;
  private readonly pending = new Map<number, (r: ServerReply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(options: Omit<Extract<ServerCommand, { op: 'start' }>, 'op'> = {}): Promise<BenchServer> {
    const child = fork(join(__dirname, 'serverChild.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const s = new BenchServer(child, '');
    child.on('message', (m: ServerReply) => {
      const done = s.pending.get(m.id);
      s.pending.delete(m.id);
      done?.(m);
    });
    const { url } = await s.send({ op: 'start', ...options });
    (s as { url: string }).url = url!;
    return s;
  }

  /** Replaces latency and rate limit, and resets the counters. */
  async configure(options: Omit<Extract<ServerCommand, { op: 'configure' }>, 'op'>): Promise<void> {
    await this.send({ op: 'configure', ...options });
  }

  async reset(): Promise<void> {
    await this.send({ op: 'reset' });
  }

  async stats(arrivals = false): Promise<ServerStats> {
    return (await this.send({ op: 'stats', arrivals })).stats!;
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.send({ op: 'close' }).catch(() => undefined);
    await exited;
  }

  private send(cmd: ServerCommand): Promise<ServerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (r) => (r.error ? reject(new Error(`bench server: ${r.error}`)) : resolve(r)));
      this.child.send({ ...cmd, id });
    });
  }
}
