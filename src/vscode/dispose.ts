import * as vscode from 'vscode';

/**
 * Base class of every long-lived object: it owns what it registers and releases it, newest
 * first, when disposed (the pattern of vscode-hexeditor's `Disposable`).
 */
export abstract class Disposable implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  protected disposed = false;

  /** Takes ownership of `d`; returns it for chaining. Disposed at once if this is already disposed. */
  protected _register<T extends vscode.Disposable>(d: T): T {
    if (this.disposed) d.dispose();
    else this.disposables.push(d);
    return d;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    while (this.disposables.length) {
      try {
        this.disposables.pop()!.dispose();
      } catch {
        // One failing disposable must not keep the rest alive.
      }
    }
  }
}
