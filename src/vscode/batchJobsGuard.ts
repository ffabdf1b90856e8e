/**
 * What the Batch API Jobs view believes of a state file. A state file sits in the workspace, where
 * a cloned repository or a colleague can write it, and it decides where the API key goes (its
 * `baseURL`) and where results are written (beside its `input`). So:
 *
 * - a state whose base URL is not `fastllm.baseUrl` is used only once the user said so (a modal
 *   naming both URLs), remembered per state file in `workspaceState`; a submission made from this
 *   window is accepted as it is made;
 * - a state whose input or results are outside the workspace folders, or whose input is not the
 *   file it sits beside, is refused;
 * - nothing is polled in an untrusted workspace (see BatchJobsController.schedule).
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { checkState, type BatchState, type StateProblem } from '../core/batchApi';
import type { Config } from './config';
import type { Log } from './log';

const ACCEPTED_KEY = 'fastllm.batchJobs.acceptedBaseUrls';

export class BatchJobsGuard {
  /** States already reported in the log as not followed, so that each poll does not repeat it. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly store: vscode.Memento,
    private readonly config: Config,
    private readonly log: Log,
  ) {}

  /** What is wrong with following this state without asking, if anything. */
  private problems(statePath: string, state: BatchState): StateProblem[] {
    const roots = vscode.workspace.workspaceFolders?.map((f) => f.uri.fsPath);
    const accepted = this.store.get<Record<string, string>>(ACCEPTED_KEY, {})[statePath];
    return checkState(state, statePath, { baseURL: this.config.baseUrl, acceptedBaseURL: accepted, roots: roots?.length ? roots : undefined });
  }

  /** Why the state is not followed (shown on its tree item), or undefined when it is. */
  problem(statePath: string, state: BatchState): string | undefined {
    const [p] = this.problems(statePath, state);
    if (!p) return undefined;
    return p.code === 'base_url'
      ? `Submitted to ${p.stateURL}, but fastllm.baseUrl is ${p.configuredURL}. Refresh or Fetch asks whether to use ${p.stateURL}.`
      : `${p.message}: refused.`;
  }

  /**
   * True when the state may be used. With `interactive`, asks about another base URL (and says why
   * a state is refused); without, only logs, once.
   */
  async usable(statePath: string, state: BatchState, interactive: boolean): Promise<boolean> {
    const problems = this.problems(statePath, state);
    if (problems.length === 0) return true;
    const refused = problems.find((p) => p.code !== 'base_url');
    if (refused) {
      if (interactive) void vscode.window.showErrorMessage(`FastLLM: ${refused.message}; FastLLM keeps Batch API results inside the workspace and does not use this state file.`);
      else this.logOnce(statePath, `Not following ${statePath}: ${refused.message}.`);
      return false;
    }
    const p = problems[0] as Extract<StateProblem, { code: 'base_url' }>;
    if (!interactive) {
      this.logOnce(statePath, `Not following ${statePath}: ${p.message}. Refresh or Fetch asks whether to use it.`);
      return false;
    }
    const use = `Use ${hostOf(p.stateURL)}`;
    const pick = await vscode.window.showWarningMessage(
      `${basename(statePath)} was submitted to ${p.stateURL}, not to ${p.configuredURL} (fastllm.baseUrl). Use ${p.stateURL} for this submission?`,
      {
        modal: true,
        detail: `FastLLM would send your API key for ${p.stateURL} there. Say yes only if you submitted these jobs there yourself: a state file in a workspace can be written by anyone who can write to the folder.`,
      },
      use,
    );
    if (pick !== use) return false;
    await this.accept(statePath, p.stateURL);
    return true;
  }

  /** Records that the user uses `baseURL` for this state file. */
  async accept(statePath: string, baseURL: string): Promise<void> {
    const accepted = this.store.get<Record<string, string>>(ACCEPTED_KEY, {});
    await this.store.update(ACCEPTED_KEY, { ...accepted, [statePath]: baseURL });
    this.reported.delete(statePath);
  }

  private logOnce(statePath: string, message: string): void {
    if (this.reported.has(statePath)) return;
    this.reported.add(statePath);
    this.log.warn(message);
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
