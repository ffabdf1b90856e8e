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
  writeReliabilityFixtures(workspace);
  writeFirstDayFixtures(workspace);
  writeFileSync(path.join(workspace, REVIEW_INPUT), REVIEW_PROMPTS.join('\n') + '\n');
  writeStatsFixtures(workspace);
}

/** A marker in the prompts that the Token Stats test's fake answers with one 429 (retry-after 1 s) first. */
export const STATS_THROTTLE = 'THROTTLE-ONCE';
/** The Token Stats tests' inputs (issue 12 item 3): a two-model JSONL run with 429s, and a .txt for Run on Several Models. */
export const STATS_INPUT = 'stats-run.jsonl';
export const STATS_MODELS_INPUT = 'stats-models.txt';
export const STATS_MODELS = ['gpt-4o', 'gpt-4o-mini'];
export const STATS_ROWS = Array.from({ length: 12 }, (_, i) => ({
  custom_id: `s${i + 1}`,
  prompt: `Stats row ${i + 1}: one sentence about ${TOPICS[i % TOPICS.length]}${i % 4 === 1 ? ` ${STATS_THROTTLE}` : ''}.`,
  model: STATS_MODELS[i % 2]!,
  max_tokens: 400,
}));
export const STATS_MODELS_ROWS = 6;

export function writeStatsFixtures(workspace: string): void {
  writeFileSync(path.join(workspace, STATS_INPUT), STATS_ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const prompts = Array.from({ length: STATS_MODELS_ROWS }, (_, i) => `Models row ${i + 1}: a word about ${TOPICS[i % TOPICS.length]}.`);
  writeFileSync(path.join(workspace, STATS_MODELS_INPUT), prompts.join('\n') + '\n');
}

/** The input of the Results view tests (issue 12); rows holding {@link REVIEW_FAIL} are refused by the fake there. */
export const REVIEW_INPUT = 'review.txt';
export const REVIEW_FAIL = 'FAIL-ME';
export const REVIEW_PROMPTS = [
  'Name one use of a cache.',
  `Row two ${REVIEW_FAIL}: this one is refused.`,
  'What is a token?',
  XSS,
  'Why batch requests?',
  `Row six ${REVIEW_FAIL}: refused as well.`,
  'What does a 429 mean?',
  'One word for speed.',
];

/** Rows of typing.txt: a run long enough to type into another editor while it goes. */
export const TYPING_ROWS = 24;
/** Rows of cancel.txt: a run to cancel part way (issue 16 item 2). */
export const CANCEL_ROWS = 200;

/** Inputs of the first-day tests (issue 16), each run only by them, so none is answered from the cache. */
export function writeFirstDayFixtures(workspace: string): void {
  const rows = (n: number, what: string) => Array.from({ length: n }, (_, i) => `${what} ${i + 1}: one line about ${TOPICS[i % TOPICS.length]}.`).join('\n') + '\n';
  writeFileSync(path.join(workspace, 'typing.txt'), rows(TYPING_ROWS, 'Typing row'));
  writeFileSync(path.join(workspace, 'cancel.txt'), rows(CANCEL_ROWS, 'Cancel row'));
}

/** Rows of reload.txt (and of reload-ref.txt, the same prompts): a batch to interrupt. */
export const RELOAD_ROWS = 300;

export function reloadPrompt(i: number): string {
  return `Reload row ${i + 1}: one sentence about ${TOPICS[i % TOPICS.length]}.`;
}

/** A marker in every prompt of hostile.jsonl, to search for in the Cache Browser. */
export const HOSTILE_MARK = 'HOSTILE';

/**
 * Prompts (and so answers: the fake echoes them) that would do harm if a page set them as HTML,
 * used them as CSS or links, or laid them out without care. Each payload, if it ran, would set
 * `window.__fastllmPwned` or open a dialog. Each starts with `HOSTILE-<name>:`, a word to search for.
 */
export const HOSTILE: Record<string, string> = {
  script: `${HOSTILE_MARK}-script: <script>window.__fastllmPwned='script';alert('script')</script>`,
  img: `${HOSTILE_MARK}-img: <img src=x onerror="window.__fastllmPwned='img';alert('img')">`,
  svg: `${HOSTILE_MARK}-svg: <svg onload="window.__fastllmPwned='svg'"><circle r=9></svg>`,
  link: `${HOSTILE_MARK}-link: <a href="javascript:window.__fastllmPwned='link'">click me</a>`,
  iframe: `${HOSTILE_MARK}-iframe: <iframe srcdoc="<script>parent.__fastllmPwned='iframe'</script>"></iframe>`,
  css: `${HOSTILE_MARK}-css: </style><style>body{display:none}</style><link rel=stylesheet href="data:text/css,body{display:none}">`,
  breakout: `${HOSTILE_MARK}-breakout: "><img src=x onerror=alert(1)></pre></td></tr></table><b>bold</b>`,
  meta: `${HOSTILE_MARK}-meta: <meta http-equiv="refresh" content="0;url=javascript:window.__fastllmPwned='meta'">`,
  template: `${HOSTILE_MARK}-template: {{constructor.constructor('window.__fastllmPwned=1')()}} \${alert(1)}`,
  control: `${HOSTILE_MARK}-control: control \u0000\u0001\u0007\u0008\u001b[31mred\u001b[0m\u007f\u0085 end`,
  rtl: `${HOSTILE_MARK}-rtl: invoice \u202Efdp.exe\u202C and \u2067isolate\u2069 \u200F\u200E zero\u200Bwidth`,
  huge: `${HOSTILE_MARK}-huge: one megabyte: ${'0123456789abcdef'.repeat(65_536)} END-OF-HUGE`,
};

/** Harmless rows beside the hostile ones, so that the search results span two pages of 50. */
export const HOSTILE_FILLER = 50;

export function writeReliabilityFixtures(workspace: string): void {
  const reload = Array.from({ length: RELOAD_ROWS }, (_, i) => reloadPrompt(i)).join('\n') + '\n';
  writeFileSync(path.join(workspace, 'reload.txt'), reload);
  writeFileSync(path.join(workspace, 'reload-ref.txt'), reload);
  const rows = [
    ...Object.entries(HOSTILE).map(([id, prompt]) => ({ custom_id: id, prompt })),
    ...Array.from({ length: HOSTILE_FILLER }, (_, i) => ({ custom_id: `filler-${i}`, prompt: `${HOSTILE_MARK} filler ${i} <b>not bold</b>` })),
  ];
  writeFileSync(path.join(workspace, 'hostile.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
