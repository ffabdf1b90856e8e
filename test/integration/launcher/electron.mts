/**
 * Runs the extension-host suite (out/test/integration/index.js) in desktop VS Code, downloaded by
 * @vscode/test-electron: for developers with internet access and a display (or xvfb-run). CI and
 * offline machines use launcher/codeServer.mts instead, which also runs the UI suite.
 *
 * Here the extension is loaded from this folder in development mode (dist/ from `npm run build`),
 * not from the VSIX. The suite starts its own fake API inside the extension host.
 *
 * Environment: FASTLLM_VSCODE_VERSION (default `stable`; e.g. `1.100.3`, the minimum we claim),
 * FASTLLM_IT_GREP (only matching tests).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { HOST_SUITE, prepareWorkspace, ROOT, TEST_API_KEY, writeUserSettings } from './workspace.mjs';

const tmp = mkdtempSync(path.join(tmpdir(), 'fastllm-it-'));
const userData = path.join(tmp, 'user-data');
const extensions = path.join(tmp, 'extensions');
mkdirSync(extensions, { recursive: true });
const settingsFile = writeUserSettings(userData);
const workspace = prepareWorkspace(path.join(tmp, 'ws'), { 'fastllm.results.openWhenDone': false });

let code = 0;
try {
  await runTests({
    version: process.env.FASTLLM_VSCODE_VERSION ?? 'stable',
    extensionDevelopmentPath: ROOT,
    extensionTestsPath: HOST_SUITE,
    launchArgs: [
      workspace,
      '--user-data-dir', userData,
      '--extensions-dir', extensions,
      '--disable-extensions',
      '--disable-workspace-trust',
      '--password-store=basic',
      '--skip-welcome',
      '--skip-release-notes',
    ],
    extensionTestsEnv: {
      OPENAI_API_KEY: TEST_API_KEY,
      FASTLLM_IT_USER_SETTINGS: settingsFile,
      FASTLLM_IT_RESULT: path.join(tmp, 'host-result.json'),
      ...(process.env.FASTLLM_IT_GREP ? { FASTLLM_IT_GREP: process.env.FASTLLM_IT_GREP } : {}),
    },
  });
} catch (e) {
  console.error(`integration tests failed: ${(e as Error).message}`);
  code = 1;
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
