import * as vscode from 'vscode';
import { compact, formatCost, formatDuration } from '../core/progress';
import { COMMANDS } from './commands';
import { Disposable } from './dispose';
import type { Config } from './config';
import type { KeyStatus } from './keyStatus';
import type { RunTracker } from './runs';
import type { WorkspaceUsage } from './usage';

const pct = (x: number) => `${Math.round(x * 100)}%`;

/**
 * The one status bar item (left). Idle: session tokens and cache hit ratio; during a run:
 * `$(loading~spin) done/total`. Its tooltip has the details and links; clicking opens Token Stats.
 * No custom colours: the error background appears only while a problem blocks every run (no key,
 * or a key the server refused). It is in the status bar only once FastLLM has been used in the
 * workspace (see WorkspaceUsage), not in every window.
 */
export class StatusBar extends Disposable {
  private readonly item: vscode.StatusBarItem;
  private shown = false;

  constructor(
    private readonly runs: RunTracker,
    private readonly keys?: KeyStatus,
    private readonly config?: Config,
    /** Shown only once FastLLM has been used in the workspace; always when not given. */
    private readonly usage?: WorkspaceUsage,
  ) {
    super();
    this.item = this._register(vscode.window.createStatusBarItem('fastllm.status', vscode.StatusBarAlignment.Left, 100));
    this.item.name = 'FastLLM';
    this.item.command = COMMANDS.showStats;
    this._register(runs.onDidChange(() => this.update()));
    this._register(runs.onDidChangeProblem(() => this.update()));
    if (keys) this._register(keys.onDidChange(() => this.update()));
    if (config) this._register(config.onDidChange(() => this.update()));
    if (usage) this._register(usage.onDidChange(() => this.update()));
    this.update();
  }

  /** Whether the item is in the status bar (it waits until FastLLM is used in the workspace). */
  get visible(): boolean {
    return this.shown;
  }

  /** The item's text, for tests. */
  get text(): string {
    return this.item.text;
  }

  /** The tooltip's Markdown source, for tests. */
  get tooltipText(): string {
    const t = this.item.tooltip;
    return typeof t === 'string' ? t : (t?.value ?? '');
  }

  private update(): void {
    const session = this.runs.session();
    const current = this.runs.current;
    const problem = this.runs.problem;
    if (current) {
      const s = current.snapshot;
      this.item.text = `$(loading~spin) ${s.total !== null ? `${s.done}/${s.total}` : s.done}`;
    } else if (problem) {
      this.item.text = '$(key) FastLLM';
    } else if (session.runs > 0) {
      const tokens = session.fresh.total + session.cached.total;
      this.item.text = `$(sparkle) ${compact(tokens)} tok · ${pct(session.hitRatio)} cached`;
    } else {
      this.item.text = '$(sparkle) FastLLM';
    }
    this.item.backgroundColor = problem && !current ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.accessibilityInformation = { label: `FastLLM: ${this.item.text.replace(/\$\([^)]*\)\s*/g, '')}`, role: 'button' };
    this.item.tooltip = this.tooltip();
    const show = !this.usage || this.usage.used || !!current;
    if (show !== this.shown) {
      this.shown = show;
      if (show) this.item.show();
      else this.item.hide();
    }
  }

  private tooltip(): vscode.MarkdownString {
    const md = new vscode.MarkdownString('', true);
    md.isTrusted = { enabledCommands: [COMMANDS.selectProfile, COMMANDS.selectModel, COMMANDS.showStats, COMMANDS.openCacheBrowser, COMMANDS.showLog, COMMANDS.cancelRun, COMMANDS.setApiKey] };
    const session = this.runs.session();
    const current = this.runs.current;
    md.appendMarkdown('**FastLLM**\n\n');
    if (this.config) {
      const profile = this.config.activeProfile;
      md.appendMarkdown(`[$(server) Profile](command:${COMMANDS.selectProfile}): `);
      md.appendText(profile ? `${profile.name} (${profile.kind === 'vscode-lm' ? 'VS Code language models' : this.config.baseUrl})` : `none (${this.config.baseUrl})`);
      md.appendMarkdown(` · [Model](command:${COMMANDS.selectModel}): `);
      md.appendText(this.config.model);
      md.appendMarkdown('\n\n');
    }
    if (this.runs.problem) {
      md.appendMarkdown(`$(error) `);
      md.appendText(this.runs.problem);
      md.appendMarkdown(` — [Set API Key](command:${COMMANDS.setApiKey})\n\n`);
    } else if (this.keys?.note) {
      md.appendMarkdown(`$(key) `);
      md.appendText(this.keys.note);
      md.appendMarkdown(` — [Set API Key](command:${COMMANDS.setApiKey})\n\n`);
    }
    if (current) {
      const s = current.snapshot;
      md.appendMarkdown('Running ');
      md.appendText(current.label);
      md.appendMarkdown(
        `: ${s.done}${s.total !== null ? `/${s.total}` : ''} rows, ${s.failed} failed, ${s.retries} retries` +
          (s.etaSeconds !== null ? `, ETA ${formatDuration(s.etaSeconds)}` : '') +
          '\n\n' +
          `Rate limits: RPM ${s.rpm.saturation !== null ? pct(s.rpm.saturation) : `${compact(s.rpm.perMinute)}/min (no limit)`} · ` +
          `TPM ${s.tpm.saturation !== null ? pct(s.tpm.saturation) : `${compact(s.tpm.perMinute)}/min (no limit)`}\n\n`,
      );
    }
    md.appendMarkdown(
      `| Session | |\n|---|---:|\n` +
        `| Requests | ${session.requests} (${session.failed} failed) |\n` +
        `| Tokens in / out | ${compact(session.fresh.prompt)} / ${compact(session.fresh.completion)} |\n` +
        `| Cached tokens | ${compact(session.cached.total)} (${pct(session.hitRatio)} of rows) |\n` +
        `| Cost (est.) | ${formatCost(session.cost.spent)} spent, ${formatCost(session.cost.saved)} saved |\n\n`,
    );
    const links = [
      `[$(graph) Token Stats](command:${COMMANDS.showStats})`,
      `[$(database) Cache Browser](command:${COMMANDS.openCacheBrowser})`,
      `[$(output) Log](command:${COMMANDS.showLog})`,
    ];
    if (current) links.push(`[$(debug-stop) Cancel](command:${COMMANDS.cancelRun})`);
    md.appendMarkdown(links.join(' · '));
    return md;
  }
}
