/**
 * The entry point VS Code calls inside the extension host (`extensionTestsPath`): both launchers
 * (code-server in `launcher/codeServer.ts`, desktop VS Code in `launcher/electron.ts`) load this
 * file, bundled to out/test/integration/index.js by scripts/build-tests.mjs.
 *
 * Environment (set by the launchers on the VS Code process, inherited by the extension host):
 * - `FASTLLM_IT_GREP`: run only the tests whose full title matches this regular expression.
 * - `FASTLLM_IT_RESULT`: write `{ passes, failures, pending, failed: [...] }` as JSON here, so that
 *   the launcher learns the failure count (the exit code VS Code reports is only 0 or 1).
 *
 * A run in which no test passed or failed (nothing matched the grep) fails: it checked nothing.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 30_000, color: false, reporter: 'spec' });
  if (process.env.FASTLLM_IT_GREP) mocha.grep(new RegExp(process.env.FASTLLM_IT_GREP));
  const dir = path.join(__dirname, 'suite');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort()) {
    mocha.addFile(path.join(dir, file));
  }

  const failed: { title: string; error: string }[] = [];
  const summary = await new Promise<{ passes: number; failures: number; pending: number }>((resolve, reject) => {
    try {
      const runner = mocha.run(() => resolve({ passes: runner.stats?.passes ?? 0, failures: runner.stats?.failures ?? 0, pending: runner.stats?.pending ?? 0 }));
      runner.on('fail', (test, err: Error) => failed.push({ title: test.fullTitle(), error: err.stack ?? String(err) }));
    } catch (e) {
      reject(e);
    }
  });
  if (process.env.FASTLLM_IT_RESULT) writeFileSync(process.env.FASTLLM_IT_RESULT, JSON.stringify({ ...summary, failed }, null, 2));
  if (summary.failures > 0) throw new Error(`${summary.failures} integration test(s) failed`);
  // A run that matched no test proves nothing: a wrong FASTLLM_IT_GREP, or suites that failed to load.
  if (summary.passes === 0) {
    const grep = process.env.FASTLLM_IT_GREP ? ` matching FASTLLM_IT_GREP=${process.env.FASTLLM_IT_GREP}` : '';
    throw new Error(`no host integration test ran${grep}`);
  }
}
