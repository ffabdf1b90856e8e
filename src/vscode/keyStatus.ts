import * as vscode from 'vscode';
import { hostOf, isLoopbackUrl } from '../core/providers/keyScope';
import type { Config } from './config';
import { Disposable } from './dispose';
import type { Secrets } from './secrets';

/**
 * Whether the configured base URL has a key, for the status bar tooltip: "no key for <host>"
 * before a run fails for want of one. Recomputed when the base URL or a stored key changes.
 */
export class KeyStatus extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;
  private text: string | undefined;
  private generation = 0;

  constructor(
    private readonly config: Config,
    private readonly secrets: Secrets,
  ) {
    super();
    this._register(config.onDidChange(() => void this.refresh()));
    this._register(secrets.onDidChange(() => void this.refresh()));
    void this.refresh();
  }

  /** `no key for 127.0.0.1:8000 …`, or undefined when the base URL has a key. */
  get note(): string | undefined {
    return this.text;
  }

  async refresh(): Promise<void> {
    const run = ++this.generation;
    const baseUrl = this.config.baseUrl;
    // VS Code's language models need no key.
    const source = this.config.activeProfile?.kind === 'vscode-lm' ? 'stored' : await this.secrets.source(baseUrl).catch(() => 'none' as const);
    if (run !== this.generation) return; // a newer refresh is under way
    const host = hostOf(baseUrl);
    const text =
      source !== 'none'
        ? undefined
        : isLoopbackUrl(baseUrl)
          ? `No key for ${host}: requests go without one, and FastLLM asks if the server wants one.`
          : `No key for ${host}: FastLLM asks for one on the first run.`;
    if (text === this.text) return;
    this.text = text;
    this.changed.fire();
  }
}
