/**
 * How the "FastLLM Batch API Jobs" view draws a submission and its jobs. The `contextValue`s
 * decide which inline actions package.json offers on an item:
 *
 * | contextValue                          | actions                                   |
 * |---------------------------------------|-------------------------------------------|
 * | `fastllm.batchSubmission.active`      | cancel all of its running jobs            |
 * | `fastllm.batchSubmission.ended`       | fetch results, remove from the list       |
 * | `fastllm.batchSubmission.blocked`     | remove (not followed: see its tooltip)    |
 * | `fastllm.batchJob.active`             | cancel this job                           |
 * | `fastllm.batchJob.ended`              | none                                      |
 *
 * Invariant: Remove is offered only on submissions whose jobs have all ended (a running job is
 * still billed, and a list entry is the easiest way back to it) or that are not followed.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { allTerminal, isTerminal, type BatchState, type JobState } from '../core/batchApi';

export type BatchJobsNode = { type: 'submission'; statePath: string; state: BatchState } | { type: 'job'; statePath: string; job: JobState; state: BatchState };

const when = (secs: number | null) => (secs ? new Date(secs * 1000).toLocaleString() : '—');

/**
 * The tree item of a node. `blocked` is why the submission is not followed (another base URL
 * than the configured one, a path outside the workspace), if it is not.
 */
export function batchJobsItem(node: BatchJobsNode, blocked: string | undefined): vscode.TreeItem {
  if (node.type === 'submission') {
    const s = node.state;
    const item = new vscode.TreeItem(basename(s.input), s.jobs.length > 0 ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    const ended = s.jobs.filter((j) => isTerminal(j.status)).length;
    item.description = blocked
      ? 'not followed: see tooltip'
      : s.fetched
        ? 'results written'
        : s.complete === false
          ? 'submit stopped half-way'
          : s.jobs.length === 0
            ? 'all rows cached'
            : `${ended}/${s.jobs.length} jobs ended`;
    item.tooltip = new vscode.MarkdownString(
      `**${s.input}**\n\n${blocked ? `⚠ ${blocked}\n\n` : ''}${s.rows} rows: ${s.cachedRows} cached, ${s.repeatRows} repeats, ${s.invalidRows} invalid, the rest in ${s.jobs.length} Batch API job(s).\n\n` +
        `Submitted ${new Date(s.submittedAt).toLocaleString()}${s.fetched ? `\n\nResults: ${s.fetched.out}` : ''}`,
    );
    item.iconPath = new vscode.ThemeIcon(blocked ? 'warning' : s.fetched ? 'pass' : allTerminal(s) ? 'cloud-download' : 'loading~spin');
    item.contextValue = blocked ? 'fastllm.batchSubmission.blocked' : allTerminal(s) ? 'fastllm.batchSubmission.ended' : 'fastllm.batchSubmission.active';
    item.resourceUri = vscode.Uri.file(s.input);
    item.id = node.statePath;
    return item;
  }
  const j = node.job;
  const item = new vscode.TreeItem(j.id, vscode.TreeItemCollapsibleState.None);
  item.description = `${j.status} · ${j.counts.completed}/${j.counts.total} done${j.counts.failed ? `, ${j.counts.failed} failed` : ''}`;
  item.tooltip = new vscode.MarkdownString(
    `**Batch API job ${j.id}** (${j.kind}, ${j.model})\n\nStatus: ${j.status}\n\nRequests: ${j.requests}, ${j.counts.completed} done, ${j.counts.failed} failed\n\n` +
      `Created: ${when(j.createdAt)}\n\nExpires: ${when(j.expiresAt)}${j.errors ? `\n\nErrors: ${j.errors}` : ''}`,
  );
  const icons: Record<string, string> = { completed: 'check', failed: 'error', expired: 'watch', cancelled: 'circle-slash', cancelling: 'loading~spin' };
  item.iconPath = new vscode.ThemeIcon(icons[j.status] ?? 'sync~spin');
  item.contextValue = isTerminal(j.status) || j.status === 'cancelling' || blocked ? 'fastllm.batchJob.ended' : 'fastllm.batchJob.active';
  item.id = `${node.statePath}#${j.id}`;
  return item;
}
