import * as vscode from 'vscode';
import { maskSecrets, type Logger } from '../core/log';
import { Disposable } from './dispose';

/**
 * The "FastLLM" LogOutputChannel (with levels the user picks in the Output view), behind the
 * engine's {@link Logger} interface. Every line passes through {@link maskSecrets} with the keys
 * this session has seen, so an error message that quotes a header cannot leak one.
 */
export class Log extends Disposable implements Logger {
  private readonly channel: vscode.LogOutputChannel;
  private readonly secrets = new Set<string>();

  constructor() {
    super();
    this.channel = this._register(vscode.window.createOutputChannel('FastLLM', { log: true }));
  }

  /** Remembers a secret so that it is masked from now on. */
  addSecret(secret: string | undefined): void {
    if (secret && secret.length >= 4) this.secrets.add(secret);
  }

  /** Masks known secrets (and bearer tokens) in any text shown to the user. */
  mask(text: string): string {
    return maskSecrets(text, [...this.secrets]);
  }

  // A closed channel throws on every write; a run ending as the extension stops may still log.
  debug(message: string): void {
    if (!this.disposed) this.channel.debug(this.mask(message));
  }
  info(message: string): void {
    if (!this.disposed) this.channel.info(this.mask(message));
  }
  warn(message: string): void {
    if (!this.disposed) this.channel.warn(this.mask(message));
  }
  error(message: string | Error): void {
    if (!this.disposed) this.channel.error(this.mask(message instanceof Error ? message.stack ?? message.message : message));
  }

  show(): void {
    this.channel.show(true);
  }
}
