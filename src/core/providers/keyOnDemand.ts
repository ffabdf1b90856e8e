import { ProviderError, type Provider, type ProviderResponse, type SendOptions } from './provider';
import type { LLMRequest } from '../types';

export interface KeyOnDemandOptions {
  /** Builds the real provider for a key (`''`: send none). */
  create(apiKey: string): Provider;
  /**
   * Called once, on the first 401 to a request sent without a key: resolves with the key to go on
   * with, or undefined to let the 401 stand (the run then stops as for any rejected key).
   */
  askKey(): Promise<string | undefined>;
  /** Told when requests start and stop waiting for {@link askKey}. */
  onPause?(paused: boolean): void;
}

/**
 * A provider for a server that may need no key (a loopback server): requests go without one until
 * the server answers 401. Then it asks for a key once, while every request (those that got a 401
 * meanwhile, and new ones) waits: the run is paused, not stopped, and nothing more is sent without
 * a key. With the key it sends again what was refused and goes on. A 401 to a request that carried
 * the new key is passed on as it is: the RequestManager stops the run on it, as for any rejected key.
 *
 * The retry happens inside one `send()`, so the manager sees one attempt: rows refused for want of
 * a key cost no retry and never become error records.
 */
export class KeyOnDemandProvider implements Provider {
  private inner: Provider;
  private asking: Promise<string | undefined> | undefined;
  /** Set once the user answered: the key, or null when they declined. */
  private answer: string | null | undefined;

  constructor(private readonly options: KeyOnDemandOptions) {
    this.inner = options.create('');
  }

  get name(): string {
    return this.inner.name;
  }

  /** The same as the keyless provider's: the key is not part of the cache key, so answers are shared. */
  get scope(): Provider['scope'] {
    return this.inner.scope;
  }

  send(request: LLMRequest, options: SendOptions): Promise<ProviderResponse> {
    return this.withKey((p) => p.send(request, options), options.signal);
  }

  stream(request: LLMRequest & { kind: 'chat' | 'responses' }, onDelta: (text: string) => void, options: SendOptions): Promise<ProviderResponse> {
    return this.withKey((p) => {
      if (!p.stream) return p.send(request, options);
      return p.stream(request, onDelta, options);
    }, options.signal);
  }

  close(): void {
    this.inner.close?.();
  }

  private async withKey(call: (p: Provider) => Promise<ProviderResponse>, signal: AbortSignal): Promise<ProviderResponse> {
    // While the user is being asked, nothing goes out without a key.
    if (this.asking) await this.decision(signal);
    const used = this.inner;
    try {
      return await call(used);
    } catch (e) {
      if (!(e instanceof ProviderError) || e.status !== 401 || this.answer === null) throw e;
      // Another request got the key while this one was out: send it again with that key.
      if (used !== this.inner) return call(this.inner);
      // The key the user gave was refused too: let the manager stop the run.
      if (this.answer !== undefined) throw e;
      this.asking ??= this.ask();
      const key = await this.decision(signal);
      if (!key) throw e;
      return call(this.inner);
    }
  }

  private async ask(): Promise<string | undefined> {
    this.options.onPause?.(true);
    try {
      const key = (await this.options.askKey())?.trim() || undefined;
      this.answer = key ?? null;
      // The keyless provider is not closed: requests may still be out on it (they come back here).
      if (key) this.inner = this.options.create(key);
      return key;
    } catch {
      this.answer = null;
      return undefined;
    } finally {
      this.asking = undefined;
      this.options.onPause?.(false);
    }
  }

  /** The answer, or a ProviderError `aborted` when the run is cancelled first. */
  private decision(signal: AbortSignal): Promise<string | undefined> {
    const asking = this.asking;
    if (!asking) return Promise.resolve(this.answer ?? undefined);
    if (signal.aborted) return Promise.reject(new ProviderError('Cancelled while waiting for an API key.', undefined, 'aborted'));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new ProviderError('Cancelled while waiting for an API key.', undefined, 'aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      void asking.then((key) => {
        signal.removeEventListener('abort', onAbort);
        resolve(key);
      });
    });
  }
}
