import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { Disposable } from './dispose';

const KEY = 'fastllm.usedHere';

/**
 * Whether FastLLM has been used in this workspace: its status bar item shows only then, not in
 * every window VS Code opens (issue 12). Used means any of:
 * - a run, or a FastLLM command, happened here (remembered in the workspace's state);
 * - the workspace sets `fastllm.*` settings of its own (it is set up for FastLLM);
 * - the workspace has a FastLLM cache file (it was used before this was remembered).
 */
export class WorkspaceUsage extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  /** Fired when the workspace becomes used (or stops being configured for FastLLM). */
  readonly onDidChange = this.changed.event;
  private configured: boolean;

  constructor(
    private readonly state: vscode.Memento,
    /** The names of FastLLM's settings, `fastllm.` included. */
    private readonly settingNames: readonly string[],
    cacheFile: string | undefined,
  ) {
    super();
    this.configured = this.readConfigured();
    if (!this.used && cacheFile && existsSync(cacheFile)) void this.state.update(KEY, true);
    this._register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('fastllm')) return;
        const was = this.used;
        this.configured = this.readConfigured();
        if (this.used !== was) this.changed.fire();
      }),
    );
  }

  get used(): boolean {
    return this.configured || this.state.get<boolean>(KEY, false);
  }

  /** Remembers that FastLLM was used here (a command ran, or a run began). */
  markUsed(): void {
    if (this.state.get<boolean>(KEY, false)) return;
    const was = this.used;
    void this.state.update(KEY, true);
    if (!was) this.changed.fire();
  }

  private readConfigured(): boolean {
    const config = vscode.workspace.getConfiguration();
    return this.settingNames.some((name) => {
      const i = config.inspect(name);
      return i !== undefined && (i.workspaceValue !== undefined || i.workspaceFolderValue !== undefined);
    });
  }
}
