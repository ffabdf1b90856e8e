/**
 * Files the UI suite runs, written into its workspace by the launcher before the window opens:
 * the Explorer lists what is on disk at load, while a file written later shows only once the
 * file watcher reports it, which can take seconds on a busy machine.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';

const TOPICS = ['caching', 'rate limits', 'retries', 'tokens', 'streaming', 'batching'];

/** Rows of topics.txt: enough for the status bar to show progress for a few seconds. */
export const TOPIC_ROWS = 30;

export function topicPrompt(i: number): string {
  return `Row ${i + 1}: say one thing about ${TOPICS[i % TOPICS.length]}.`;
}

/**
 * A prompt, and so an answer (the fake API echoes prompts), that would run script if a page ever
 * set it as HTML. No quotes in it, so that it reads the same inside the JSON the detail shows.
 */
export const XSS = '<img src=x onerror=document.body.dataset.pwned=1> is this markup?';

export function writeUiFixtures(workspace: string): void {
  writeFileSync(path.join(workspace, 'topics.txt'), Array.from({ length: TOPIC_ROWS }, (_, i) => topicPrompt(i)).join('\n') + '\n');
  writeFileSync(path.join(workspace, 'xss.txt'), `${XSS}\n`);
}
