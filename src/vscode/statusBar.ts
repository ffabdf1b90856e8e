import * as vscode from 'vscode';
import { compact, formatCost, formatDuration } from '../core/progress';
import { COMMANDS } from './commands';
import { Disposable } from './dispose';
import type { RunTracker } from './runs';

const pct = (x: number) => `${Math.round(x * 100)}%`;

/**
 * The one status bar item (left). Idle: session tokens and cache hit ratio; during a run:
 * `$(loading~spin) done/total`. Its tooltip has the details and links; clicking opens Token Stats.
 * No custom colours: the error background appears only while a problem blocks every run (no key,
 * or a key the server refused).
 */
export class StatusBar extends Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(private readonly runs: RunTracker) {
    super();
    this.item = this._register(vscode.window.createStatusBarItem('fastllm.status', vscode.StatusBarAlignment.Left, 100));
    this.item.name = 'FastLLM';
    this.item.command = COMMANDS.showStats;
    this._register(runs.onDidChange(() => this.update()));
    this._register(runs.onDidChangeProblem(() => this.update()));
    this.update();
    this.item.show();
  }

  /** The item's text, for tests. */
  get text(): string {
    return this.item.text;
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
  }

  private tooltip(): vscode.MarkdownString {
    const md = new vscode.MarkdownString('', true);
    md.isTrusted = { enabledCommands: [COMMANDS.showStats, COMMANDS.openCacheBrowser, COMMANDS.showLog, COMMANDS.cancelRun, COMMANDS.setApiKey] };
    const session = this.runs.session();
    const current = this.runs.current;
    md.appendMarkdown('**FastLLM**\n\n');
    if (this.runs.problem) {
      md.appendMarkdown(`$(error) `);
      md.appendText(this.runs.problem);
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
          `Rate limits: RPM ${s.rpm.saturation !== null ? pct(s.rpm.saturation) : `${s.rpm.used}/min (no limit)`} · ` +
          `TPM ${s.tpm.saturation !== null ? pct(s.tpm.saturation) : `${compact(s.tpm.used)}/min (no limit)`}\n\n`,
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
