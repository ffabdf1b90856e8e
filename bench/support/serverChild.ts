/**
 * The benchmark's fake OpenAI server, in a process of its own so that the server's CPU time never
 * counts against the client being measured (and the two can use both cores). Driven over IPC by
 * {@link ./server.ts}; every message gets exactly one reply with the same `id`.
 */
import { quotaErrorBody, startFakeServer, type FakeBehavior, type FakeServer } from '../../test/support/fakeServer';
import type { ServerBehaviour, ServerCommand, ServerLatency, ServerReply } from './server';

let server: FakeServer | undefined;

/** mulberry32: the same seed gives the same latencies to every client compared in one scenario. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Sum of the latencies handed out since the last reset (for the variable-latency ideal). */
let latencySum = 0;

function latencyOption(l: ServerLatency | undefined): FakeBehavior['latencyMs'] {
  latencySum = 0;
  if (l === undefined || typeof l === 'number') return l ?? 0;
  // Drawn by request index, so that each client, after a reset, meets the same sequence.
  const draws: number[] = [];
  const next = prng(l.seed);
  return (index: number) => {
    while (draws.length <= index) draws.push(l.min + next() * (l.max - l.min));
    const ms = draws[index]!;
    latencySum += ms;
    return ms;
  };
}

function behaviour(b: ServerBehaviour): FakeBehavior {
  return {
    latencyMs: latencyOption(b.latency),
    rateLimit: b.rateLimit,
    gpu: b.gpu,
    plan: b.noQuota ? () => ({ status: 429, body: quotaErrorBody() }) : undefined,
  };
}

async function handle(cmd: ServerCommand): Promise<Omit<ServerReply, 'id'>> {
  switch (cmd.op) {
    case 'start': {
      server = await startFakeServer({ recordBodies: cmd.recordBodies ?? false, ...behaviour(cmd) });
      return { url: server.url };
    }
    case 'configure': {
      server!.behavior = behaviour(cmd);
      server!.reset();
      return {};
    }
    case 'reset':
      server!.reset();
      latencySum = 0;
      return {};
    case 'stats': {
      const s = server!;
      let arrivals: { at: number; body: string }[] | undefined;
      if (cmd.arrivals) arrivals = s.requests.map((r) => ({ at: r.at, body: JSON.stringify(r.body) }));
      return { stats: { count: s.count, maxInFlight: s.maxInFlight, inFlight: s.inFlight, latencySum, arrivals, throttled: s.countByStatus[429] ?? 0 } };
    }
    case 'close':
      await server?.close();
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on('message', (msg: ServerCommand & { id: number }) => {
  handle(msg).then(
    (reply) => process.send!({ id: msg.id, ...reply }),
    (e: unknown) => process.send!({ id: msg.id, error: String((e as Error)?.stack ?? e) }),
  );
});
// Exit with the parent, whatever way it ends.
process.on('disconnect', () => process.exit(0));
