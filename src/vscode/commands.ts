import * as vscode from 'vscode';

/**
 * The extension's main commands (category "FastLLM"; titles live in package.json). The Batch Jobs
 * and Compare views register their own: BATCH_JOB_COMMANDS (./batchJobs.ts) and COMPARE_COMMAND
 * (./compare.ts). Together they are `contributes.commands`, which the smoke test checks are all
 * registered in a real VS Code.
 */
export const COMMANDS = {
  /** Run Batch from File… `(uri?: Uri, options?: { confirm?: boolean })` → BatchSummary | undefined */
  runBatch: 'fastllm.runBatch',
  /** Run on Selection `()` → SelectionResult | undefined */
  runSelection: 'fastllm.runSelection',
  /** Show Token Stats */
  showStats: 'fastllm.showStats',
  /** Open Cache Browser */
  openCacheBrowser: 'fastllm.openCacheBrowser',
  /** Clear Cache `(options?: { confirm?: boolean })` → number of entries deleted, or undefined if declined */
  clearCache: 'fastllm.clearCache',
  /** Set API Key `(key?: string)`: asks with a password input when no key is given */
  setApiKey: 'fastllm.setApiKey',
  /** Cancel Run → number of runs cancelled */
  cancelRun: 'fastllm.cancelRun',
  /** Rerun Failed Rows `(resultsUri?: Uri)` → BatchSummary | undefined */
  rerunFailed: 'fastllm.rerunFailed',
  /** Show Log */
  showLog: 'fastllm.showLog',
  /** Select Profile… `(name?: string)`: '' for none; asks with a quick pick when no name is given → the name, or undefined */
  selectProfile: 'fastllm.selectProfile',
  /** Select Model… `(model?: string)`: lists the profile's models when none is given → the model, or undefined */
  selectModel: 'fastllm.selectModel',
  /** Try It Without a Key `()` → DemoResult | undefined: the sample batch against a local demo server (./demo/tryDemo.ts) */
  tryDemo: 'fastllm.tryDemo',
} as const;

export type CommandName = keyof typeof COMMANDS;
export type CommandId = (typeof COMMANDS)[CommandName];

/** A handler per command; `never[]` accepts handlers of any parameter list. */
export type CommandHandlers = Record<CommandName, (...args: never[]) => unknown>;

/**
 * Registers one handler per command of the table; the compiler checks that none is missing.
 * `invoked` is called before each handler (FastLLM was used in this workspace).
 */
export function registerCommands(handlers: CommandHandlers, invoked?: (name: CommandName) => void): vscode.Disposable[] {
  return (Object.keys(COMMANDS) as CommandName[]).map((name) => {
    const handler = handlers[name] as (...args: unknown[]) => unknown;
    return vscode.commands.registerCommand(COMMANDS[name], (...args: unknown[]) => {
      invoked?.(name);
      return handler(...args);
    });
  });
}
